// The SMS onboarding rules that need no I/O: number format, codes, the SMS text, masking, and the
// SMS part of sms_settings.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace smsbridge::api {

struct sms_settings {
  std::string sms_receiver_number = "+910000000000";
  std::string allowed_prefix = "ONBOARD:";
  std::size_t hash_length = 8;
  std::int64_t ttl_hash_seconds = 900;
  std::vector<std::string> allowed_countries{"+91"};  // calling-code prefixes
  std::int64_t count_threshold = 5;                   // registrations, and SMS, per number per window
  std::int64_t count_window_seconds = 86400;
  bool header_hash_check = true;
  bool foreign_number_check = true;
  bool count_check = true;
  bool blacklist_check = true;
  std::string sync_url;
  std::string recovery_url;
};

// settings.{sms_receiver_number, allowed_prefix, hash_length, ttl_hash_seconds, allowed_countries,
// count_threshold, count_window_seconds, validation_checks.<check>.enabled, sync_url, recovery_url};
// missing keys keep their defaults, other keys (the seed's) are ignored. One sentence per mistake.
fallible<sms_settings> parse_sms_settings(std::string_view json_text);
// Reads the file like load_monitoring_ports: missing means defaults; unreadable is an error.
fallible<sms_settings> load_sms_settings(const std::string& path);

// E.164: '+', then 8 to 15 digits, the first not 0.
bool is_e164(std::string_view number);

// Whether the number starts with one of the allowed calling-code prefixes.
bool number_in_countries(std::string_view number, const std::vector<std::string>& countries);

// Base32(HMAC-SHA256(secret, mobile + timestamp))[:length].
std::string onboarding_code(std::string_view secret, std::string_view mobile, std::int64_t unix_seconds, std::size_t length);

// The code in an SMS "PREFIX<code>" (surrounding spaces ignored), or why it is not one.
struct sms_text {
  std::optional<std::string> code;
  std::string problem;  // "wrong prefix", "wrong length", "bad characters"
};
sms_text read_sms_text(std::string_view message, std::string_view prefix, std::size_t length);

// "+91******3210": never a whole number in logs.
std::string mask_number(std::string_view number);

}  // namespace smsbridge::api
