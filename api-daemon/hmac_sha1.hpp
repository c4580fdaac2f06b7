// The one wrapper around OpenSSL's libcrypto outside TLS: HMAC-SHA1, which TOTP needs and
// libsodium does not have.
#pragma once

#include <string>
#include <string_view>

namespace smsbridge::api {

// HMAC-SHA1 of data under a key of any length: 20 raw bytes. Cannot fail for inputs under 2 GiB.
std::string hmac_sha1(std::string_view key, std::string_view data);

}  // namespace smsbridge::api
