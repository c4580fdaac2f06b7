// Admins' second factor in PostgreSQL: parameterised statements only, each change one statement.
#include "api-daemon/admin_totp.hpp"

#include "api-daemon/crypto.hpp"
#include "api-daemon/totp.hpp"

namespace smsbridge::api {

totp_enrolment new_totp_enrolment(std::string_view admin, std::string_view key_secret) {
  totp_enrolment e;
  const std::string secret = random_bytes(totp_secret_bytes);
  e.base32_secret = base32_encode(secret);
  e.uri = otpauth_uri(admin, e.base32_secret);
  e.sealed_secret = seal_secret(key_secret, secret, sealing_purpose::totp_secret);
  for (int i = 0; i < recovery_code_count; ++i) {
    e.recovery_codes.push_back(format_recovery_code(random_bytes(7)));
    e.recovery_hashes.push_back(recovery_code_hash(key_secret, e.recovery_codes.back()));
  }
  return e;
}

std::string recovery_code_hash(std::string_view key_secret, std::string_view code) {
  return keyed_hash(hmac_sha256(key_secret, "sms-bridge recovery codes v1"), normalize_recovery_code(code));
}

namespace {
// A text[] literal of hex hashes (which need no quoting), for one parameter.
std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (const auto& item : items) {
    if (out.size() > 1) out += ',';
    out += item;
  }
  out += '}';
  return out;
}
}  // namespace

pg::db_result<bool> enable_totp(pg::connection& db, std::string_view name, std::string_view sealed_secret,
                                const std::vector<std::string>& recovery_hashes) {
  // The old codes are deleted and the new ones inserted by the same statement: both see the
  // snapshot from before it, so the DELETE cannot touch the new rows.
  auto r = db.exec("WITH admin AS (SELECT username FROM admin_users WHERE username = $1), "
                   "enrolled AS (INSERT INTO admin_totp (username, sealed_secret) SELECT username, $2 FROM admin "
                   "  ON CONFLICT (username) DO UPDATE SET sealed_secret = EXCLUDED.sealed_secret, last_step = NULL, enabled_at = now() "
                   "  RETURNING username), "
                   "old_codes AS (DELETE FROM admin_recovery_codes WHERE username IN (SELECT username FROM enrolled)), "
                   "new_codes AS (INSERT INTO admin_recovery_codes (username, code_hash) "
                   "  SELECT e.username, h FROM enrolled e, unnest($3::text[]) AS h), "
                   "ended AS (DELETE FROM admin_sessions WHERE username IN (SELECT username FROM enrolled)) "
                   "SELECT username FROM enrolled",
                   {std::string(name), std::string(sealed_secret), text_array(recovery_hashes)});
  if (!r) return r.error();
  return r->count() == 1;
}

pg::db_result<bool> disable_totp(pg::connection& db, std::string_view name) {
  auto r = db.exec("DELETE FROM admin_totp WHERE username = $1 RETURNING username", {std::string(name)});
  if (!r) return r.error();
  return r->count() == 1;
}

pg::db_result<bool> accept_totp_step(pg::connection& db, std::string_view name, std::int64_t step) {
  // One conditional UPDATE: of two requests with the same code, the row lock lets one through and
  // the other then sees the new last_step and matches nothing.
  auto r = db.exec("UPDATE admin_totp SET last_step = $2::bigint WHERE username = $1 AND (last_step IS NULL OR last_step < $2::bigint) "
                   "RETURNING username",
                   {std::string(name), std::to_string(step)});
  if (!r) return r.error();
  return r->count() == 1;
}

pg::db_result<bool> spend_recovery_code(pg::connection& db, std::string_view name, std::string_view code_hash) {
  auto r = db.exec("UPDATE admin_recovery_codes SET used_at = now() WHERE username = $1 AND code_hash = $2 AND used_at IS NULL "
                   "RETURNING username",
                   {std::string(name), std::string(code_hash)});
  if (!r) return r.error();
  return r->count() == 1;
}

}  // namespace smsbridge::api
