// Administrators in PostgreSQL: who they are, their argon2id hashes, the trail of their logins.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api-daemon/pg.hpp"
#include "common/result.hpp"

namespace smsbridge::api {

struct admin_record {
  admin_record() = default;
  admin_record(std::string hash, std::int32_t version) : password_hash(std::move(hash)), password_version(version) {}
  std::string password_hash;
  std::int32_t password_version = 0;
  // Enrolled in TOTP: the sealed secret (admin_totp.hpp) and the last accepted time step.
  std::optional<std::string> totp_sealed_secret;
  std::optional<std::int64_t> totp_last_step;
};

// 1 to 64 of A-Z a-z 0-9 _ . @ -
bool is_valid_admin_name(std::string_view name);

// The rule for a password an operator gives `admin add` or `admin passwd`: 12 to 256 characters
// (UTF-8 code points) and not the examples' CHANGE-ME, in any case. Fails with a sentence that
// never repeats the password. Pure.
fallible<void> check_admin_password(std::string_view password);

// What `admin list` shows of one admin; no secret. Times are UTC, "YYYY-MM-DDTHH:MM:SSZ".
struct admin_summary {
  std::string name;
  std::string created;
  std::string password_changed;  // empty: never changed since it was created
  std::string last_login;        // empty: no successful login within the login trail's retention
  bool totp = false;             // enrolled in the second factor
  int recovery_codes_left = 0;   // unused recovery codes, when enrolled
};

// At most `max` admins, by name. Fails with the database's error.
pg::db_result<std::vector<admin_summary>> list_admins(pg::connection& db, std::size_t max);

// `admin list`'s table, one admin a line under a header; a sentence instead when there is none,
// and a closing note when `more` (the list was cut at its bound). Pure.
std::string render_admin_list(const std::vector<admin_summary>& admins, bool more);

pg::db_result<bool> any_admin_exists(pg::connection& db);
pg::db_result<std::optional<admin_record>> find_admin(pg::connection& db, std::string_view name);
// Fails with unique_violation if the name is taken.
pg::db_result<void> add_admin(pg::connection& db, std::string_view name, std::string_view password_hash);
// False when there is no such admin. Bumps password_version, which drops cached verifications,
// and ends every browser session of that admin, in one statement.
pg::db_result<bool> set_admin_password(pg::connection& db, std::string_view name, std::string_view password_hash);
// False when there is no such admin. Its sessions go with it (ON DELETE CASCADE).
pg::db_result<bool> remove_admin(pg::connection& db, std::string_view name);

// Appends to admin_auth_events. method: basic|session|cli; outcome: success|failure|throttled|changed.
// A non-empty `announce` (encode_shared_login) is sent on sms_bridge_logins in the same statement,
// so the other api-daemons on this database count the attempt too.
pg::db_result<void> record_auth_event(pg::connection& db, std::string_view name, std::string_view source,
                                      std::string_view method, std::string_view outcome, std::string_view announce = {});

}  // namespace smsbridge::api
