// Admins' second factor in PostgreSQL: enrolment (a sealed secret and ten hashed recovery codes),
// the replay guard (the last accepted time step, moved forward atomically) and spent recovery codes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api-daemon/pg.hpp"

namespace smsbridge::api {

// A new enrolment of one admin, made in memory before anything is stored.
struct totp_enrolment {
  std::string base32_secret;                // what the authenticator app is given
  std::string uri;                          // otpauth://..., also the QR code's content
  std::vector<std::string> recovery_codes;  // shown once, never stored
  std::string sealed_secret;                // stored: seal_secret(key_secret, secret, totp_secret)
  std::vector<std::string> recovery_hashes; // stored: recovery_code_hash of each code
};

// A fresh random secret and recovery codes for `admin`, sealed and hashed under `key_secret`
// (SMS_BRIDGE_HMAC_SECRET). Cannot fail.
totp_enrolment new_totp_enrolment(std::string_view admin, std::string_view key_secret);

// The stored form of a recovery code (as typed: case, '-' and spaces do not matter): a BLAKE2b
// hash under a key derived from `key_secret`, so the table alone cannot be searched offline.
std::string recovery_code_hash(std::string_view key_secret, std::string_view code);

// Enrols (or enrols anew: a new secret, new recovery codes, the replay guard reset) and ends the
// admin's browser sessions, which were opened without a second factor; one statement. False when
// there is no such admin.
pg::db_result<bool> enable_totp(pg::connection& db, std::string_view name, std::string_view sealed_secret,
                                const std::vector<std::string>& recovery_hashes);
// Removes the enrolment and its recovery codes. False when the admin was not enrolled.
pg::db_result<bool> disable_totp(pg::connection& db, std::string_view name);

// The replay guard: records `step` as the admin's last accepted step if it is later than the one
// recorded. False (refuse the code) when it is not, also when two requests race with the same code.
pg::db_result<bool> accept_totp_step(pg::connection& db, std::string_view name, std::int64_t step);
// Spends an unused recovery code of the admin by its hash. False when there is none such.
pg::db_result<bool> spend_recovery_code(pg::connection& db, std::string_view name, std::string_view code_hash);

}  // namespace smsbridge::api
