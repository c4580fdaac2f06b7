// Administrators in PostgreSQL: parameterised statements only.
#include "api-daemon/admins.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "api-daemon/api_config.hpp"

namespace smsbridge::api {

bool is_valid_admin_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '@' || c == '-';
  });
}

fallible<void> check_admin_password(std::string_view password) {
  // Characters, not bytes: "pässwörd" is eight of them, as its owner counts.
  const auto characters = static_cast<std::size_t>(
      std::count_if(password.begin(), password.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
  if (is_example_value(password)) return fail("the password is the examples' CHANGE-ME; choose a real one.");
  if (characters < 12) return fail(fmt::format("the password must be at least 12 characters; this one has {}.", characters));
  if (characters > 256) return fail(fmt::format("the password must be at most 256 characters; this one has {}.", characters));
  return {};
}

pg::db_result<std::vector<admin_summary>> list_admins(pg::connection& db, std::size_t max) {
  // password_version starts at 1 and only a password change bumps it (so does updated_at, which
  // is then the time of the last change). The last login comes from the login trail, which
  // retention thins out.
  auto r = db.exec("SELECT u.username, to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                   "CASE WHEN u.password_version > 1 THEN to_char(u.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END, "
                   "(SELECT to_char(max(e.at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM admin_auth_events e "
                   " WHERE e.username = u.username AND e.outcome = 'success'), "
                   "t.username IS NOT NULL, "
                   "(SELECT count(*) FROM admin_recovery_codes c WHERE c.username = u.username AND c.used_at IS NULL) "
                   "FROM admin_users u LEFT JOIN admin_totp t ON t.username = u.username ORDER BY u.username LIMIT $1",
                   {std::to_string(max)});
  if (!r) return r.error();
  std::vector<admin_summary> out;
  for (int row = 0; row < r->count(); ++row) {
    admin_summary a;
    a.name = std::string(r->get(row, 0).value_or(""));
    a.created = std::string(r->get(row, 1).value_or(""));
    a.password_changed = std::string(r->get(row, 2).value_or(""));
    a.last_login = std::string(r->get(row, 3).value_or(""));
    a.totp = r->get(row, 4) == std::optional<std::string_view>("t");
    const auto left = r->get(row, 5).value_or("0");
    std::from_chars(left.data(), left.data() + left.size(), a.recovery_codes_left);
    out.push_back(std::move(a));
  }
  return out;
}

std::string render_admin_list(const std::vector<admin_summary>& admins, bool more) {
  if (admins.empty()) return "no admins yet; create one with: sms-bridge-api admin add NAME\n";
  std::size_t width = 4;  // "NAME"
  for (const auto& a : admins) width = std::max(width, a.name.size());
  const auto line = [width](std::string_view name, std::string_view created, std::string_view changed, std::string_view login,
                            std::string_view totp) {
    return fmt::format("{:<{}}  {:<20}  {:<20}  {:<20}  {}\n", name, width, created, changed, login, totp);
  };
  std::string out = line("NAME", "CREATED", "PASSWORD CHANGED", "LAST LOGIN", "TOTP");
  for (const auto& a : admins) {
    out += line(a.name, a.created, a.password_changed.empty() ? "never" : a.password_changed,
                a.last_login.empty() ? "none recorded" : a.last_login,
                a.totp ? fmt::format("on ({} recovery codes left)", a.recovery_codes_left) : "off");
  }
  if (more) out += fmt::format("(only the first {} admins, by name)\n", admins.size());
  return out;
}

pg::db_result<bool> any_admin_exists(pg::connection& db) {
  auto r = db.exec("SELECT EXISTS (SELECT 1 FROM admin_users)");
  if (!r) return r.error();
  return r->get(0, 0) == std::optional<std::string_view>("t");
}

pg::db_result<std::optional<admin_record>> find_admin(pg::connection& db, std::string_view name) {
  auto r = db.exec("SELECT u.password_hash, u.password_version, t.sealed_secret, t.last_step FROM admin_users u "
                   "LEFT JOIN admin_totp t ON t.username = u.username WHERE u.username = $1",
                   {std::string(name)});
  if (!r) return r.error();
  if (r->count() == 0) return std::optional<admin_record>{};
  admin_record a;
  a.password_hash = std::string(*r->get(0, 0));
  const auto v = *r->get(0, 1);
  std::from_chars(v.data(), v.data() + v.size(), a.password_version);
  if (const auto sealed = r->get(0, 2)) a.totp_sealed_secret = std::string(*sealed);
  if (const auto step = r->get(0, 3)) {
    std::int64_t last = 0;
    std::from_chars(step->data(), step->data() + step->size(), last);
    a.totp_last_step = last;
  }
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
                                      std::string_view method, std::string_view outcome, std::string_view announce) {
  std::vector<std::optional<std::string>> params{std::string(name.substr(0, 64)), std::string(source.substr(0, 64)),
                                                 std::string(method), std::string(outcome)};
  if (!announce.empty()) params.emplace_back(std::string(announce));
  // A data-modifying WITH runs whatever the SELECT reads: one statement, one round trip.
  auto r = db.exec(announce.empty() ? "INSERT INTO admin_auth_events (username, source, method, outcome) VALUES ($1, $2, $3, $4)"
                                    : "WITH event AS (INSERT INTO admin_auth_events (username, source, method, outcome) "
                                      "VALUES ($1, $2, $3, $4)) SELECT pg_notify('sms_bridge_logins', $5)",
                   params);
  if (!r) return r.error();
  return {};
}

}  // namespace smsbridge::api
