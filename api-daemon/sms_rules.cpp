// The SMS onboarding rules that need no I/O.
#include "api-daemon/sms_rules.hpp"
#include "api-daemon/settings_file.hpp"

#include <algorithm>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

#include "api-daemon/base32.hpp"
#include "api-daemon/crypto.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;

fallible<std::int64_t> whole(const json::value& v, const char* key, std::int64_t min, std::int64_t max) {
  if (!v.is_int64() || v.as_int64() < min || v.as_int64() > max) {
    return fail(fmt::format("settings.{} must be a whole number from {} to {}.", key, min, max));
  }
  return v.as_int64();
}

fallible<std::string> text(const json::value& v, const char* key, std::size_t max) {
  if (!v.is_string() || v.as_string().size() > max) return fail(fmt::format("settings.{} must be a string of at most {} characters.", key, max));
  return std::string(v.as_string());
}
}  // namespace

fallible<sms_settings> parse_sms_settings(std::string_view json_text) {
  boost::system::error_code ec;
  const json::value root = json::parse(json_text, ec);
  if (ec || !root.is_object()) return fail("the settings file is not a JSON object.");
  sms_settings out;
  const auto* settings = root.as_object().if_contains("settings");
  if (!settings) return out;
  if (!settings->is_object()) return fail("settings must be an object.");
  const auto& s = settings->as_object();
  if (const auto* v = s.if_contains("sms_receiver_number")) {
    auto t = text(*v, "sms_receiver_number", 16);
    if (!t || !is_e164(*t)) return fail("settings.sms_receiver_number must be an E.164 number such as +919876543210.");
    out.sms_receiver_number = *t;
  }
  if (const auto* v = s.if_contains("allowed_prefix")) {
    auto t = text(*v, "allowed_prefix", 32);
    if (!t || t->empty()) return fail("settings.allowed_prefix must be a non-empty string of at most 32 characters.");
    out.allowed_prefix = *t;
  }
  if (const auto* v = s.if_contains("hash_length")) {
    auto n = whole(*v, "hash_length", 6, 32);
    if (!n) return n.error();
    out.hash_length = static_cast<std::size_t>(*n);
  }
  if (const auto* v = s.if_contains("ttl_hash_seconds")) {
    auto n = whole(*v, "ttl_hash_seconds", 1, 86400);
    if (!n) return n.error();
    out.ttl_hash_seconds = *n;
  }
  if (const auto* v = s.if_contains("allowed_countries")) {
    if (!v->is_array() || v->as_array().size() > 300) return fail("settings.allowed_countries must be a list of calling codes such as \"+91\".");
    out.allowed_countries.clear();
    for (const auto& c : v->as_array()) {
      if (!c.is_string() || c.as_string().size() < 2 || c.as_string().size() > 5 || c.as_string()[0] != '+') {
        return fail("settings.allowed_countries must be a list of calling codes such as \"+91\".");
      }
      out.allowed_countries.emplace_back(c.as_string());
    }
  }
  if (const auto* v = s.if_contains("count_threshold")) {
    auto n = whole(*v, "count_threshold", 1, 100000);
    if (!n) return n.error();
    out.count_threshold = *n;
  }
  if (const auto* v = s.if_contains("count_window_seconds")) {
    auto n = whole(*v, "count_window_seconds", 1, 30 * 86400);
    if (!n) return n.error();
    out.count_window_seconds = *n;
  }
  if (const auto* v = s.if_contains("validation_checks")) {
    if (!v->is_object()) return fail("settings.validation_checks must be an object.");
    for (auto [name, flag] : {std::pair{"header_hash_check", &out.header_hash_check}, std::pair{"foreign_number_check", &out.foreign_number_check},
                              std::pair{"count_check", &out.count_check}, std::pair{"blacklist_check", &out.blacklist_check}}) {
      const auto* check = v->as_object().if_contains(name);
      if (!check) continue;
      const auto* enabled = check->is_object() ? check->as_object().if_contains("enabled") : nullptr;
      if (!enabled || !enabled->is_bool()) return fail(fmt::format("settings.validation_checks.{}.enabled must be true or false.", name));
      *flag = enabled->as_bool();
    }
  }
  for (auto [key, field] : {std::pair{"sync_url", &out.sync_url}, std::pair{"recovery_url", &out.recovery_url}}) {
    if (const auto* v = s.if_contains(key)) {
      auto t = text(*v, key, 2048);
      if (!t) return t.error();
      if (!t->empty() && !t->starts_with("https://") && !t->starts_with("http://")) {
        return fail(fmt::format("settings.{} must be an http(s) URL.", key));
      }
      *field = *t;
    }
  }
  return out;
}

fallible<sms_settings> load_sms_settings(const std::string& path) {
  auto text = read_settings_text(path);
  if (!text) return text.error();
  if (!*text) return sms_settings{};
  auto parsed = parse_sms_settings(**text);
  if (!parsed) return fail(fmt::format("settings file {}: {}", path, parsed.error().message));
  return parsed;
}

bool is_e164(std::string_view n) {
  return n.size() >= 9 && n.size() <= 16 && n[0] == '+' && n[1] >= '1' && n[1] <= '9' &&
         std::all_of(n.begin() + 1, n.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool number_in_countries(std::string_view number, const std::vector<std::string>& countries) {
  return std::any_of(countries.begin(), countries.end(), [&](const std::string& c) { return number.starts_with(c); });
}

std::string onboarding_code(std::string_view secret, std::string_view mobile, std::int64_t unix_seconds, std::size_t length) {
  return base32_encode(hmac_sha256(secret, std::string(mobile) + std::to_string(unix_seconds))).substr(0, length);
}

sms_text read_sms_text(std::string_view message, std::string_view prefix, std::size_t length) {
  while (!message.empty() && (message.front() == ' ' || message.front() == '\n' || message.front() == '\r')) message.remove_prefix(1);
  while (!message.empty() && (message.back() == ' ' || message.back() == '\n' || message.back() == '\r')) message.remove_suffix(1);
  if (!message.starts_with(prefix)) return {std::nullopt, "wrong prefix"};
  std::string code(message.substr(prefix.size()));
  if (code.size() != length) return {std::nullopt, "wrong length"};
  std::transform(code.begin(), code.end(), code.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (!std::all_of(code.begin(), code.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'); })) {
    return {std::nullopt, "bad characters"};
  }
  return {code, ""};
}

std::string mask_number(std::string_view number) {
  if (number.size() <= 7) return std::string(number.size(), '*');
  return std::string(number.substr(0, 3)) + std::string(number.size() - 7, '*') + std::string(number.substr(number.size() - 4));
}

}  // namespace smsbridge::api
