// HMAC-SHA1 through OpenSSL (already linked for the backend's TLS).
#include "api-daemon/hmac_sha1.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace smsbridge::api {

std::string hmac_sha1(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       out, &length);
  return std::string(reinterpret_cast<const char*>(out), length);
}

}  // namespace smsbridge::api
