// Admin and session lookups from memory, forgotten on every change PostgreSQL announces.
#include "api-daemon/admin_cache.hpp"

#include "api-daemon/crypto.hpp"

namespace smsbridge::api {

void cached_admin_store::forget() {
  ++generation_;
  admins_.clear();
  sessions_.clear();
}

void cached_admin_store::listening(bool live) {
  live_ = live;
  forget();
}

void cached_admin_store::changed() { forget(); }

boost::asio::awaitable<pg::db_result<std::optional<admin_record>>> cached_admin_store::find_admin(std::string name) {
  const auto now = now_();
  if (live_) {
    if (auto it = admins_.find(name); it != admins_.end()) {
      if (now - it->second.read_at < limits_.max_age) co_return std::optional<admin_record>{it->second.record};
      admins_.erase(it);
    }
  }
  const auto before = generation_;
  auto step = inner_.find_admin(name);
  auto found = co_await std::move(step);
  keep(admins_, name, found, before, now);
  co_return found;
}

boost::asio::awaitable<pg::db_result<std::optional<session_record>>> cached_admin_store::find_session(std::string token) {
  const auto now = now_();
  const std::string key = keyed_hash("", token);
  if (live_) {
    if (auto it = sessions_.find(key); it != sessions_.end()) {
      const auto held = std::chrono::duration_cast<std::chrono::seconds>(now - it->second.read_at).count();
      // The session's clocks go on while it is held: it expires on time, and the age of its last
      // second-factor code grows.
      if (now - it->second.read_at < limits_.max_age && held < it->second.record.expires_in_seconds) {
        session_record record = it->second.record;
        record.expires_in_seconds -= held;
        if (record.otp_age_seconds) *record.otp_age_seconds += held;
        co_return std::optional<session_record>{std::move(record)};
      }
      sessions_.erase(it);
    }
  }
  const auto before = generation_;
  auto step = inner_.find_session(token);
  auto found = co_await std::move(step);
  keep(sessions_, key, found, before, now);
  co_return found;
}

boost::asio::awaitable<pg::db_result<void>> cached_admin_store::record_auth_event(std::string name, std::string source,
                                                                                 std::string method, std::string outcome,
                                                                                 std::string announce) {
  auto step = inner_.record_auth_event(std::move(name), std::move(source), std::move(method), std::move(outcome), std::move(announce));
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<new_session>> cached_admin_store::create_session(std::string name, std::int32_t password_version,
                                                                                     bool otp_verified) {
  // A new session changes no kept entry (no absence is kept).
  auto step = inner_.create_session(std::move(name), password_version, otp_verified);
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<void>> cached_admin_store::delete_session(std::string token) {
  auto step = inner_.delete_session(std::move(token));
  auto done = co_await std::move(step);
  forget();
  co_return done;
}

boost::asio::awaitable<pg::db_result<void>> cached_admin_store::mark_session_otp(std::string token) {
  auto step = inner_.mark_session_otp(std::move(token));
  auto done = co_await std::move(step);
  forget();
  co_return done;
}

boost::asio::awaitable<pg::db_result<bool>> cached_admin_store::accept_totp_step(std::string name, std::int64_t step) {
  auto accept = inner_.accept_totp_step(std::move(name), step);
  auto done = co_await std::move(accept);
  forget();
  co_return done;
}

boost::asio::awaitable<pg::db_result<bool>> cached_admin_store::spend_recovery_code(std::string name, std::string code_hash) {
  // Recovery codes are never kept.
  auto step = inner_.spend_recovery_code(std::move(name), std::move(code_hash));
  co_return co_await std::move(step);
}

}  // namespace smsbridge::api
