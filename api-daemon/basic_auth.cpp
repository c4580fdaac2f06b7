// HTTP Basic authentication of admins.
#include "api-daemon/basic_auth.hpp"

#include <array>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api-daemon/admin_totp.hpp"
#include "api-daemon/crypto.hpp"
#include "api-daemon/totp.hpp"
#include "common/log.hpp"

namespace smsbridge::api {

std::int64_t system_unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {
namespace log = smsbridge::log;  // not at file scope, where <cmath>'s ::log lives

std::optional<std::string> base64_decode(std::string_view in) {
  static const std::array<int, 256> table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = i;
    return t;
  }();
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = in[i + j];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        v[j] = 0;
        ++pad;
      } else if (pad > 0 || (v[j] = table[static_cast<unsigned char>(c)]) < 0) {
        return std::nullopt;
      }
    }
    const unsigned n = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}
}  // namespace

std::optional<basic_credentials> parse_basic_authorization(std::string_view header) {
  constexpr std::string_view scheme = "Basic ";
  if (header.size() > 1024 || header.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != std::tolower(static_cast<unsigned char>(scheme[i]))) {
      return std::nullopt;
    }
  }
  auto decoded = base64_decode(header.substr(scheme.size()));
  if (!decoded) return std::nullopt;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos || colon == 0 || colon > 64 || decoded->size() - colon - 1 > 256) return std::nullopt;
  return basic_credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

basic_auth::basic_auth(admin_store& admins, limits l, std::string totp_key, unix_clock unix_now)
    : admins_(admins),
      limits_(l),
      hashers_(l.parallel_hashes),
      cache_key_secret_(random_bytes(32)),
      totp_key_(std::move(totp_key)),
      unix_now_(std::move(unix_now)),
      origin_(to_hex(random_bytes(8))) {}

boost::asio::awaitable<auth_result> basic_auth::check(std::string_view authorization, std::string source) {
  auto credentials = parse_basic_authorization(authorization);
  if (!credentials || !is_valid_admin_name(credentials->user)) co_return auth_result{auth_outcome::denied, {}};
  const std::string user = credentials->user;
  auto found_step = admins_.find_admin(user);
  const auto found = co_await std::move(found_step);
  const auto now = std::chrono::steady_clock::now();
  const std::string key = keyed_hash(cache_key_secret_, credentials->user + '\0' + credentials->password);
  if (!found) {
    // The database is down: a verification cached before it went down still stands, so admins
    // can close doors (and the helper keeps the audit events until the database is back).
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.admin == user && it->second.expires > now) {
      co_return auth_result{auth_outcome::ok, user, 0, it->second.version, it->second.totp};
    }
    co_return auth_result{auth_outcome::unavailable, {}};
  }
  // Many connections presenting the same new credentials at once (a client's pool) share one
  // argon2id check instead of each starting its own.
  if (verifying_.count(key)) {
    boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor);
    while (verifying_.count(key)) {
      wait.expires_after(std::chrono::milliseconds(2));
      co_await wait.async_wait(boost::asio::use_awaitable);
    }
  }
  if (auto it = cache_.find(key); it != cache_.end()) {
    if (*found && it->second.admin == user && it->second.version == (*found)->password_version && it->second.expires > now) {
      it->second.totp = (*found)->totp_sealed_secret.has_value();
      co_return auth_result{auth_outcome::ok, user, 0, it->second.version, it->second.totp};
    }
    cache_.erase(it);
  }
  verifying_.insert(key);
  auto verify_step = verify(user, credentials->password, *found, std::move(source), "basic");
  auto verdict = co_await std::move(verify_step);
  verifying_.erase(key);
  if (verdict.outcome != auth_outcome::ok) co_return verdict;
  if (cache_.size() >= limits_.cache_entries) {
    for (auto it = cache_.begin(); it != cache_.end();) it = it->second.expires <= now ? cache_.erase(it) : std::next(it);
    if (cache_.size() >= limits_.cache_entries) cache_.erase(cache_.begin());
  }
  cache_[key] = cached{user, (*found)->password_version, now + limits_.cache_ttl, verdict.totp_enrolled};
  co_return verdict;
}

boost::asio::awaitable<auth_result> basic_auth::login(std::string user, std::string password, std::string source) {
  if (!is_valid_admin_name(user) || password.size() > 256) co_return auth_result{auth_outcome::denied, {}};
  auto found_step = admins_.find_admin(user);
  const auto found = co_await std::move(found_step);
  if (!found) co_return auth_result{auth_outcome::unavailable, {}};
  auto verify_step = verify(std::move(user), std::move(password), *found, std::move(source), "session");
  co_return co_await std::move(verify_step);
}

boost::asio::awaitable<auth_result> basic_auth::verify(std::string user, std::string password, std::optional<admin_record> admin,
                                                       std::string source, const char* method) {
  const auto now = std::chrono::steady_clock::now();
  if (const long wait = throttle_.admit(source, user, now); wait > 0) {
    auto record_step = admins_.record_auth_event(user, source, method, "throttled", "");
    (void)co_await std::move(record_step);
    co_return auth_result{auth_outcome::throttled, {}, wait};
  }
  bool verified = false;
  if (admin) {
    if (in_flight_ >= limits_.parallel_hashes + limits_.waiting_hashes) co_return auth_result{auth_outcome::busy, {}};
    ++in_flight_;
    auto check = [hash = admin->password_hash, password] { return verify_password(hash, password); };
    auto check_step = hashers_.run(std::move(check));
    verified = co_await std::move(check_step);
    --in_flight_;
  }
  // For an enrolled admin the password is only half a login: the throttle forgets failures and
  // trusts the source only once the code is right too (verify_otp), or a known password would
  // reset the count of wrong codes at every try.
  const bool enrolled = admin && admin->totp_sealed_secret.has_value();
  std::string announce;  // what the other api-daemons' throttles are told: what this one's was
  if (verified && !enrolled) {
    throttle_.succeeded(source, user, std::chrono::steady_clock::now());
    announce = encode_shared_login(origin_, {false, source, user, true});
  } else if (!verified) {
    throttle_.failed(source, user, admin.has_value(), std::chrono::steady_clock::now());
    announce = encode_shared_login(origin_, {true, source, user, admin.has_value()});
  }
  const char* outcome = verified ? "success" : "failure";
  auto record_step = admins_.record_auth_event(user, source, method, outcome, std::move(announce));
  (void)co_await std::move(record_step);
  if (!verified) co_return auth_result{auth_outcome::denied, {}};
  co_return auth_result{auth_outcome::ok, user, 0, admin->password_version, enrolled, true};
}

boost::asio::awaitable<otp_result> basic_auth::verify_otp(std::string user, std::string otp, std::string source,
                                                          bool after_password) {
  const auto now = std::chrono::steady_clock::now();
  if (const long wait = throttle_.admit(source, user, now, !after_password); wait > 0) {
    auto record_step = admins_.record_auth_event(user, source, "totp", "throttled", "");
    (void)co_await std::move(record_step);
    co_return otp_result{otp_outcome::throttled, wait};
  }
  if (totp_key_.empty()) {
    log::error("admin '{}' has a second factor, but SMS_BRIDGE_HMAC_SECRET, its key, is not set: codes cannot be checked.", user);
    co_return otp_result{otp_outcome::unavailable};
  }
  auto found_step = admins_.find_admin(user);
  const auto found = co_await std::move(found_step);
  if (!found) co_return otp_result{otp_outcome::unavailable};
  bool accepted = false;
  if (*found && (*found)->totp_sealed_secret && otp.size() <= 64) {
    if (is_totp_code(otp)) {
      const auto secret = open_secret(totp_key_, *(*found)->totp_sealed_secret, sealing_purpose::totp_secret);
      if (!secret) {
        log::error("the TOTP secret of admin '{}' cannot be opened: SMS_BRIDGE_HMAC_SECRET changed since it was enrolled; "
                   "enrol it again with: sms-bridge-api admin totp enable {}", user, user);
        co_return otp_result{otp_outcome::unavailable};
      }
      if (const auto step = match_totp(*secret, otp, totp_step(unix_now_()), (*found)->totp_last_step)) {
        // The database has the last word: of two requests with one code, only one moves the step.
        auto accept_step = admins_.accept_totp_step(user, *step);
        const auto moved = co_await std::move(accept_step);
        if (!moved) co_return otp_result{otp_outcome::unavailable};
        accepted = *moved;
      }
    } else {
      auto spend_step = admins_.spend_recovery_code(user, recovery_code_hash(totp_key_, otp));
      const auto spent = co_await std::move(spend_step);
      if (!spent) co_return otp_result{otp_outcome::unavailable};
      accepted = *spent;
    }
  }
  if (accepted) throttle_.succeeded(source, user, std::chrono::steady_clock::now());
  else throttle_.failed(source, user, found->has_value(), std::chrono::steady_clock::now());
  auto record_step = admins_.record_auth_event(user, source, "totp", accepted ? "success" : "failure",
                                               encode_shared_login(origin_, {!accepted, source, user, found->has_value()}));
  (void)co_await std::move(record_step);
  co_return otp_result{accepted ? otp_outcome::ok : otp_outcome::wrong};
}

void basic_auth::take_shared(std::string_view payload) {
  const auto outcome = parse_shared_login(payload, origin_);
  if (!outcome) return;
  const auto now = std::chrono::steady_clock::now();
  if (outcome->failed) throttle_.failed(outcome->source, outcome->user, outcome->user_exists, now);
  else throttle_.succeeded(outcome->source, outcome->user, now);
}

}  // namespace smsbridge::api
