// The one wrapper around libsodium: argon2id password hashes, keyed hashes, HMAC, random bytes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace smsbridge::api {

// Initialises libsodium; call once at start. Fails with a sentence.
fallible<void> init_crypto();

// argon2id (libsodium's interactive limits: ~tens of ms, 64 MiB). Slow by design: never on an
// I/O thread. Fails only when memory cannot be had.
fallible<std::string> hash_password(std::string_view password);

// Constant-time check of a password against a stored argon2id string.
bool verify_password(std::string_view stored_hash, std::string_view password);

// BLAKE2b-256 of data under a 32-byte key, hex: cache keys that reveal nothing about the input.
std::string keyed_hash(std::string_view key, std::string_view data);

// Lower-case hex of bytes (digests, tokens, signatures).
std::string to_hex(std::string_view bytes);

// n random bytes from the system CSPRNG.
std::string random_bytes(std::size_t n);

// HMAC-SHA256 of data under a key of any length: 32 raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);

// What a sealed secret is for: each purpose derives its own key from the same key secret, so a
// sealed PIN cannot be passed off as a TOTP secret or the other way round.
enum class sealing_purpose { outbox_pin, totp_secret };

// A short secret (a PIN, a TOTP secret) sealed for storage: XSalsa20-Poly1305 (crypto_secretbox)
// under a key derived from `key_secret` (the HMAC secret) and the purpose, a random nonce each
// time; "v1:" + hex.
std::string seal_secret(std::string_view key_secret, std::string_view plaintext,
                        sealing_purpose purpose = sealing_purpose::outbox_pin);
// The plaintext of seal_secret's output, or nullopt if it is not one, was tampered with, or was
// sealed under another key or for another purpose.
std::optional<std::string> open_secret(std::string_view key_secret, std::string_view sealed,
                                       sealing_purpose purpose = sealing_purpose::outbox_pin);

// Equality that takes the same time wherever the inputs differ (for secrets).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace smsbridge::api
