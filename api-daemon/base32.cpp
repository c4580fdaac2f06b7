// RFC 4648 base32.
#include "api-daemon/base32.hpp"

#include <cstdint>

namespace smsbridge::api {

namespace {
constexpr std::string_view base32_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int base32_value(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  const auto at = base32_alphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}
}  // namespace

std::string base32_encode(std::string_view bytes) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out += base32_alphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += base32_alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

std::optional<std::string> base32_decode(std::string_view text) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  std::size_t symbols = 0;
  for (char c : text) {
    if (c == '=' || c == ' ') continue;
    const int v = base32_value(c);
    if (v < 0) return std::nullopt;
    ++symbols;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out += static_cast<char>((buffer >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  // 1, 3 and 6 symbols left over encode no whole byte: not the output of any encoder.
  const auto rest = symbols % 8;
  if (rest == 1 || rest == 3 || rest == 6) return std::nullopt;
  return out;
}

}  // namespace smsbridge::api
