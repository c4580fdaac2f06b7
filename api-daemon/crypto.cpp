// The one wrapper around libsodium.
#include "api-daemon/crypto.hpp"

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

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string keyed_hash(std::string_view key, std::string_view data) {
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                     reinterpret_cast<const unsigned char*>(key.data()), key.size());
  return to_hex(std::string_view(reinterpret_cast<const char*>(out), sizeof out));
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::string out(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_final(&state, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

namespace {
constexpr std::string_view sealed_prefix = "v1:";

// A key of its own for sealing, so the HMAC secret itself never keys the cipher.
std::string sealing_key(std::string_view key_secret, sealing_purpose purpose) {
  static_assert(crypto_secretbox_KEYBYTES == crypto_auth_hmacsha256_BYTES);
  return hmac_sha256(key_secret, purpose == sealing_purpose::totp_secret ? "sms-bridge sealed TOTP secrets v1"
                                                                          : "sms-bridge sealed outbox secrets v1");
}
}  // namespace

std::string seal_secret(std::string_view key_secret, std::string_view plaintext, sealing_purpose purpose) {
  const std::string key = sealing_key(key_secret, purpose);
  std::string box(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size(), '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(box.data());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        plaintext.size(), nonce, reinterpret_cast<const unsigned char*>(key.data()));
  return std::string(sealed_prefix) + to_hex(box);
}

std::optional<std::string> open_secret(std::string_view key_secret, std::string_view sealed, sealing_purpose purpose) {
  if (!sealed.starts_with(sealed_prefix)) return std::nullopt;
  sealed.remove_prefix(sealed_prefix.size());
  if (sealed.size() > 1024) return std::nullopt;
  std::string box(sealed.size() / 2, '\0');
  std::size_t length = 0;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(box.data()), box.size(), sealed.data(), sealed.size(), nullptr, &length,
                     nullptr) != 0 ||
      length != box.size() || sealed.size() % 2 != 0 || box.size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return std::nullopt;
  }
  const std::string key = sealing_key(key_secret, purpose);
  const auto* nonce = reinterpret_cast<const unsigned char*>(box.data());
  std::string plain(box.size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()), nonce + crypto_secretbox_NONCEBYTES,
                                 box.size() - crypto_secretbox_NONCEBYTES, nonce,
                                 reinterpret_cast<const unsigned char*>(key.data())) != 0) {
    return std::nullopt;
  }
  return plain;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace smsbridge::api
