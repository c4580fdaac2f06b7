// The second factor's arithmetic: TOTP (RFC 6238) over HOTP (RFC 4226) with the authenticator
// apps' defaults (HMAC-SHA1, 30 s steps, 6 digits), base32 secrets, otpauth:// URIs and the
// recovery codes' shape. No I/O; the replay rule's durable half is in admin_totp.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api-daemon/base32.hpp"

namespace smsbridge::api {

inline constexpr int totp_step_seconds = 30;
inline constexpr int totp_digits = 6;
inline constexpr std::size_t totp_secret_bytes = 20;  // 160 bits, RFC 4226's recommendation
inline constexpr int recovery_code_count = 10;

// RFC 4226: the `totp_digits`-digit code of `counter`, zero-padded.
std::string hotp_code(std::string_view secret, std::uint64_t counter);
// The time step a Unix time falls in.
std::int64_t totp_step(std::int64_t unix_seconds);

// Whether text is shaped like a TOTP code (exactly six ASCII digits).
bool is_totp_code(std::string_view text);

// The step whose code `code` is, among now_step - 1, now_step and now_step + 1 (a clock off by up
// to 30 s either way), if that step is after `last_used_step` (a step accepted once is never
// accepted again, nor an earlier one); nullopt otherwise. All three candidates are computed and
// compared in constant time, whatever matches.
std::optional<std::int64_t> match_totp(std::string_view secret, std::string_view code, std::int64_t now_step,
                                       std::optional<std::int64_t> last_used_step);

// otpauth://totp/SMS%20Bridge:NAME?secret=BASE32&issuer=SMS%20Bridge (with the defaults spelled
// out), the URI an authenticator app scans. NAME is a valid admin name, percent-encoded anyway.
std::string otpauth_uri(std::string_view admin, std::string_view base32_secret);

// A recovery code as shown: ten base32 characters from 50 random bits of `random` (at least 7
// bytes), lower case, as two groups of five: "abcde-fghij".
std::string format_recovery_code(std::string_view random);
// What is hashed and compared: lower case, without '-' and spaces (so "ABCDE FGHIJ" works too).
std::string normalize_recovery_code(std::string_view text);

}  // namespace smsbridge::api
