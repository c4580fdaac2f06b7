// The one wrapper around libsodium.
#include "api-daemon/password_hash.hpp"

#include <sodium.h>

#include <fmt/format.h>

namespace smsbridge::api {

fallible<void> init_crypto() {
  if (sodium_init() < 0) return fail("libsodium could not be initialised.");
  return {};
}

fallible<std::string> hash_password(std::string_view password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return fail("not enough memory to hash the password.");
  }
  return std::string(out);
}

bool verify_password(std::string_view stored_hash, std::string_view password) {
  if (stored_hash.size() >= crypto_pwhash_STRBYTES) return false;
  char hash[crypto_pwhash_STRBYTES] = {};
  stored_hash.copy(hash, stored_hash.size());
  return crypto_pwhash_str_verify(hash, password.data(), password.size()) == 0;
}

std::string keyed_hash(std::string_view key, std::string_view data) {
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                     reinterpret_cast<const unsigned char*>(key.data()), key.size());
  std::string hex;
  for (auto b : out) hex += fmt::format("{:02x}", b);
  return hex;
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

}  // namespace smsbridge::api
