// HTTP Basic authentication of admins: argon2id off the I/O thread with bounded concurrency, and
// a short-lived cache of successful verifications so API clients do not pay for it every time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/admin_store.hpp"
#include "api-daemon/login_throttle.hpp"
#include "api-daemon/worker.hpp"

namespace smsbridge::api {

struct basic_credentials {
  std::string user;
  std::string password;
};

// Parses "Basic base64(user:password)". nullopt for anything else (wrong scheme, bad base64,
// no colon, over-long values).
std::optional<basic_credentials> parse_basic_authorization(std::string_view header);

enum class auth_outcome { ok, denied, throttled, busy, unavailable };

struct auth_result {
  auth_outcome outcome = auth_outcome::denied;
  std::string admin;     // when ok
  long retry_after = 0;  // seconds, when throttled
  std::int32_t password_version = 0;  // when ok: the version of the password that was verified
  bool totp_enrolled = false;         // when ok: the admin has a second factor (verify_otp)
  bool password_checked = false;      // when ok: this request's password was checked (not cached)
};

enum class otp_outcome { ok, wrong, throttled, unavailable };

struct otp_result {
  otp_outcome outcome = otp_outcome::wrong;
  long retry_after = 0;  // seconds, when throttled
};

// The Unix time in seconds; a parameter so that tests can set the clock TOTP codes are checked at.
using unix_clock = std::function<std::int64_t()>;
std::int64_t system_unix_now();

class basic_auth {
 public:
  struct limits {
    std::size_t parallel_hashes = 2;            // argon2id runs at once (each up to 64 MiB)
    std::size_t waiting_hashes = 8;             // more than this waiting: answer busy at once
    std::chrono::seconds cache_ttl{300};
    std::size_t cache_entries = 1024;
  };

  // `totp_key`: the key secret TOTP secrets and recovery codes are sealed and hashed under
  // (SMS_BRIDGE_HMAC_SECRET); empty: no second factor can be checked.
  basic_auth(admin_store& admins, limits l, std::string totp_key = {}, unix_clock unix_now = system_unix_now);

  // Verifies the request's Authorization header. `source` is the client address (for the trail).
  // The admin's password_version is read on every request, so a password change (also from the
  // CLI) drops the cached verification at once; argon2id runs only on a cache miss. While the
  // database is unreachable, only a cached verification is accepted.
  boost::asio::awaitable<auth_result> check(std::string_view authorization, std::string source);

  // A login form's user name and password (no cache); method is "session" for the trail.
  boost::asio::awaitable<auth_result> login(std::string user, std::string password, std::string source);

  // Checks a second-factor code of an enrolled admin: a TOTP code (six digits; within ±1 time
  // step; refused if its step, or a later one, was accepted before) or an unused recovery code
  // (then spent). Throttled and counted like a password (a failure is a failed login), and
  // recorded in the login trail as method "totp". unavailable when the database cannot be asked or
  // the secret cannot be opened (SMS_BRIDGE_HMAC_SECRET unset or changed), logged here.
  // `after_password`: the same request's password was just checked, which took the attempt's
  // throttle slot; the code is the second half of that attempt, not another one.
  boost::asio::awaitable<otp_result> verify_otp(std::string user, std::string otp, std::string source, bool after_password);

  // Another api-daemon's login outcome, as it announced it on sms_bridge_logins (its payload):
  // counted in this one's throttle as if it had happened here. This daemon's own are skipped.
  void take_shared(std::string_view payload);
  // What this daemon's announcements are signed with: random, one per process.
  const std::string& origin() const { return origin_; }

 private:
  // Throttle, argon2id, audit: the part every password check shares.
  boost::asio::awaitable<auth_result> verify(std::string user, std::string password, std::optional<admin_record> admin,
                                             std::string source, const char* method);

  struct cached {
    std::string admin;
    std::int32_t version;
    std::chrono::steady_clock::time_point expires;
    bool totp;
  };

  admin_store& admins_;
  limits limits_;
  worker hashers_;
  std::size_t in_flight_ = 0;            // touched on the I/O thread only
  login_throttle throttle_{{}};
  std::map<std::string, cached> cache_;  // keyed by a keyed hash of user + password
  std::set<std::string> verifying_;      // keys whose argon2id check is in flight
  std::string cache_key_secret_;
  std::string totp_key_;
  unix_clock unix_now_;
  std::string origin_;
};

}  // namespace smsbridge::api
