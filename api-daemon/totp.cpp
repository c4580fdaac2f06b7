// TOTP and its encodings.
#include "api-daemon/totp.hpp"

#include <array>

#include <fmt/format.h>

#include "api-daemon/hmac_sha1.hpp"

namespace smsbridge::api {

std::string hotp_code(std::string_view secret, std::uint64_t counter) {
  std::array<char, 8> message{};
  for (int i = 7; i >= 0; --i) {
    message[static_cast<std::size_t>(i)] = static_cast<char>(counter & 0xff);
    counter >>= 8;
  }
  const std::string mac = hmac_sha1(secret, std::string_view(message.data(), message.size()));
  // RFC 4226 §5.3, dynamic truncation.
  const auto offset = static_cast<std::size_t>(static_cast<unsigned char>(mac[19]) & 0x0f);
  const auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(mac[offset + i])); };
  const std::uint32_t binary = ((byte(0) & 0x7f) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3);
  return fmt::format("{:06}", binary % 1000000);
}

std::int64_t totp_step(std::int64_t unix_seconds) {
  return unix_seconds >= 0 ? unix_seconds / totp_step_seconds : (unix_seconds - totp_step_seconds + 1) / totp_step_seconds;
}

bool is_totp_code(std::string_view text) {
  if (text.size() != static_cast<std::size_t>(totp_digits)) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  return true;
}

std::optional<std::int64_t> match_totp(std::string_view secret, std::string_view code, std::int64_t now_step,
                                       std::optional<std::int64_t> last_used_step) {
  if (!is_totp_code(code) || now_step < 1) return std::nullopt;
  // No early exit: every candidate is computed and compared byte by byte, all differences ORed,
  // so the time taken says nothing about which step (if any) matched or how much of it.
  std::optional<std::int64_t> found;
  for (std::int64_t step = now_step - 1; step <= now_step + 1; ++step) {
    const std::string expected = hotp_code(secret, static_cast<std::uint64_t>(step));
    unsigned difference = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) difference |= static_cast<unsigned>(expected[i] ^ code[i]);
    const bool fresh = !last_used_step || step > *last_used_step;
    if (difference == 0 && fresh && !found) found = step;
  }
  return found;
}

namespace {
std::string percent_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}
}  // namespace

std::string otpauth_uri(std::string_view admin, std::string_view base32_secret) {
  return fmt::format("otpauth://totp/SMS%20Bridge:{}?secret={}&issuer=SMS%20Bridge&algorithm=SHA1&digits={}&period={}",
                     percent_encode(admin), base32_secret, totp_digits, totp_step_seconds);
}

std::string format_recovery_code(std::string_view random) {
  std::string code = base32_encode(random.substr(0, 7)).substr(0, 10);
  for (char& c : code)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return code.substr(0, 5) + "-" + code.substr(5);
}

std::string normalize_recovery_code(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '-' || c == ' ') continue;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

}  // namespace smsbridge::api
