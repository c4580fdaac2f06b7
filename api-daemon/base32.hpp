// RFC 4648 base32 (A-Z2-7): the onboarding codes and the second factor's secrets and recovery
// codes are written in it, because it survives being read aloud and typed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace smsbridge::api {

// RFC 4648 base32, upper case, without padding (what otpauth:// URIs carry).
std::string base32_encode(std::string_view bytes);
// The bytes of base32 text (either case; '=' padding and spaces ignored), or nullopt if another
// character is in it or a final group is impossible.
std::optional<std::string> base32_decode(std::string_view text);

}  // namespace smsbridge::api
