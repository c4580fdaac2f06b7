// Administrators in PostgreSQL: who they are, their argon2id hashes, the trail of their logins.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api-daemon/pg.hpp"

namespace smsbridge::api {

struct admin_record {
  std::string password_hash;
  std::int32_t password_version = 0;
};

// 1 to 64 of A-Z a-z 0-9 _ . @ -
bool is_valid_admin_name(std::string_view name);

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
pg::db_result<void> record_auth_event(pg::connection& db, std::string_view name, std::string_view source,
                                      std::string_view method, std::string_view outcome);

}  // namespace smsbridge::api
