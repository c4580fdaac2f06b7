// Browser sessions of admins in PostgreSQL: the cookie token is kept only as a hash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api-daemon/pg.hpp"

namespace smsbridge::api {

struct new_session {
  std::string token;       // for the cookie; never stored
  std::string csrf_token;  // for the X-CSRF-Token header of state-changing requests
  std::string expires_at;  // ISO 8601, from the database
};

struct session_record {
  std::string username;
  std::string csrf_token;
  bool totp_enrolled = false;                    // its admin has a second factor now
  std::optional<std::int64_t> otp_age_seconds;  // since its admin last gave a code in it; none: never
  std::int64_t expires_in_seconds = 0;           // how long it stays valid from the lookup on
};

inline constexpr int session_lifetime_seconds = 8 * 60 * 60;

// Creates a session for `username` whose password of `password_version` was just verified (and
// deletes that admin's expired sessions); `otp_verified`: a second-factor code came with it too.
pg::db_result<new_session> create_session(pg::connection& db, std::string_view username, std::int32_t password_version,
                                          bool otp_verified);
// The live session of a cookie token, or nullopt if unknown, expired, or its admin's password
// changed (or the admin was removed) since it was created.
pg::db_result<std::optional<session_record>> find_session(pg::connection& db, std::string_view token);
pg::db_result<void> delete_session(pg::connection& db, std::string_view token);
// Records that the session's admin just gave a second-factor code (the step-up).
pg::db_result<void> mark_session_otp(pg::connection& db, std::string_view token);

// The session token inside a Cookie header (sms_bridge_session=...), if any.
std::optional<std::string> session_cookie(std::string_view cookie_header);
inline constexpr std::string_view session_cookie_name = "sms_bridge_session";

}  // namespace smsbridge::api
