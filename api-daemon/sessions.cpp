// Browser sessions of admins.
#include "api-daemon/sessions.hpp"

#include <charconv>

#include "api-daemon/crypto.hpp"

namespace smsbridge::api {

namespace {
// Tokens carry 256 random bits, so an unkeyed hash is enough to make the stored form useless.
std::string token_hash(std::string_view token) { return keyed_hash("", token); }
}  // namespace

pg::db_result<new_session> create_session(pg::connection& db, std::string_view username, std::int32_t password_version,
                                          bool otp_verified) {
  if (auto r = db.exec("DELETE FROM admin_sessions WHERE username = $1 AND expires_at <= now()", {std::string(username)}); !r) {
    return r.error();
  }
  new_session s{to_hex(random_bytes(32)), to_hex(random_bytes(32)), ""};
  auto r = db.exec("INSERT INTO admin_sessions (token_hash, username, csrf_token, expires_at, password_version, otp_at) "
                   "VALUES ($1, $2, $3, now() + make_interval(secs => $4::int), $5::int, CASE WHEN $6::bool THEN now() END) "
                   "RETURNING to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                   {token_hash(s.token), std::string(username), s.csrf_token, std::to_string(session_lifetime_seconds),
                    std::to_string(password_version), otp_verified ? "true" : "false"});
  if (!r) return r.error();
  s.expires_at = std::string(*r->get(0, 0));
  return s;
}

pg::db_result<std::optional<session_record>> find_session(pg::connection& db, std::string_view token) {
  if (token.size() != 64) return std::optional<session_record>{};
  // The join is the guarantee that a password change ends sessions: a session created from a
  // login verified against the old password carries the old version and matches nothing.
  auto r = db.exec("SELECT s.username, s.csrf_token, t.username IS NOT NULL, "
                   "floor(extract(epoch FROM now() - s.otp_at))::bigint, floor(extract(epoch FROM s.expires_at - now()))::bigint "
                   "FROM admin_sessions s JOIN admin_users u "
                   "ON u.username = s.username AND u.password_version = s.password_version "
                   "LEFT JOIN admin_totp t ON t.username = s.username "
                   "WHERE s.token_hash = $1 AND s.expires_at > now()",
                   {token_hash(token)});
  if (!r) return r.error();
  if (r->count() == 0) return std::optional<session_record>{};
  session_record found{std::string(*r->get(0, 0)), std::string(*r->get(0, 1)), r->get(0, 2) == std::optional<std::string_view>("t"),
                       std::nullopt};
  if (const auto age = r->get(0, 3)) {
    std::int64_t seconds = 0;
    std::from_chars(age->data(), age->data() + age->size(), seconds);
    found.otp_age_seconds = seconds;
  }
  if (const auto left = r->get(0, 4)) std::from_chars(left->data(), left->data() + left->size(), found.expires_in_seconds);
  return std::optional<session_record>{std::move(found)};
}

pg::db_result<void> delete_session(pg::connection& db, std::string_view token) {
  auto r = db.exec("DELETE FROM admin_sessions WHERE token_hash = $1", {token_hash(token)});
  if (!r) return r.error();
  return {};
}

pg::db_result<void> mark_session_otp(pg::connection& db, std::string_view token) {
  auto r = db.exec("UPDATE admin_sessions SET otp_at = now() WHERE token_hash = $1", {token_hash(token)});
  if (!r) return r.error();
  return {};
}

std::optional<std::string> session_cookie(std::string_view header) {
  while (!header.empty()) {
    const auto semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == session_cookie_name) return std::string(pair.substr(eq + 1));
  }
  return std::nullopt;
}

}  // namespace smsbridge::api
