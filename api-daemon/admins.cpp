// Administrators in PostgreSQL: parameterised statements only.
#include "api-daemon/admins.hpp"

#include <algorithm>
#include <charconv>

namespace smsbridge::api {

bool is_valid_admin_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '@' || c == '-';
  });
}

pg::db_result<bool> any_admin_exists(pg::connection& db) {
  auto r = db.exec("SELECT EXISTS (SELECT 1 FROM admin_users)");
  if (!r) return r.error();
  return r->get(0, 0) == std::optional<std::string_view>("t");
}

pg::db_result<std::optional<admin_record>> find_admin(pg::connection& db, std::string_view name) {
  auto r = db.exec("SELECT password_hash, password_version FROM admin_users WHERE username = $1", {std::string(name)});
  if (!r) return r.error();
  if (r->count() == 0) return std::optional<admin_record>{};
  admin_record a;
  a.password_hash = std::string(*r->get(0, 0));
  const auto v = *r->get(0, 1);
  std::from_chars(v.data(), v.data() + v.size(), a.password_version);
  return std::optional<admin_record>{std::move(a)};
}

pg::db_result<void> add_admin(pg::connection& db, std::string_view name, std::string_view password_hash) {
  auto r = db.exec("INSERT INTO admin_users (username, password_hash) VALUES ($1, $2)",
                   {std::string(name), std::string(password_hash)});
  if (!r) return r.error();
  return {};
}

pg::db_result<bool> set_admin_password(pg::connection& db, std::string_view name, std::string_view password_hash) {
  // One statement: the new password and the end of every session of the old one (the sessions'
  // password_version would no longer match anyway; this also frees their rows).
  auto r = db.exec("WITH changed AS (UPDATE admin_users SET password_hash = $2, password_version = password_version + 1, "
                   "updated_at = now() WHERE username = $1 RETURNING username), "
                   "ended AS (DELETE FROM admin_sessions WHERE username IN (SELECT username FROM changed)) "
                   "SELECT username FROM changed",
                   {std::string(name), std::string(password_hash)});
  if (!r) return r.error();
  return r->count() == 1;
}

pg::db_result<bool> remove_admin(pg::connection& db, std::string_view name) {
  auto r = db.exec("DELETE FROM admin_users WHERE username = $1 RETURNING id", {std::string(name)});
  if (!r) return r.error();
  return r->count() == 1;
}

pg::db_result<void> record_auth_event(pg::connection& db, std::string_view name, std::string_view source,
                                      std::string_view method, std::string_view outcome) {
  auto r = db.exec("INSERT INTO admin_auth_events (username, source, method, outcome) VALUES ($1, $2, $3, $4)",
                   {std::string(name.substr(0, 64)), std::string(source.substr(0, 64)), std::string(method),
                    std::string(outcome)});
  if (!r) return r.error();
  return {};
}

}  // namespace smsbridge::api
