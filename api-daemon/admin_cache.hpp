// Admin and session lookups answered from memory while PostgreSQL says nothing about them changed,
// so an authenticated request costs no database round trip.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "api-daemon/admin_store.hpp"

namespace smsbridge::api {

struct admin_cache_limits {
  std::size_t entries = 1024;        // of each kind; when full, everything is forgotten
  std::chrono::seconds max_age{30};  // a bound on staleness should the feed fail unnoticed
};

// A decorator of admin_store. It answers find_admin and find_session from memory only while it is
// told the database's change feed is live (admin_listener: LISTEN sms_bridge_admins, whose
// triggers fire on every change of admins, second factors and sessions, from any server or the
// CLI). Without the feed every lookup goes to the database, as without the cache.
//
// The contract with the feed: listening(true) once LISTEN is in place, changed() for each
// notification, listening(false) when its connection is lost. A lookup that was in flight while a
// change arrived is answered but not kept, since it may have read the row before the change.
// Everything runs on the I/O thread.
class cached_admin_store final : public admin_store {
 public:
  using limits = admin_cache_limits;
  using clock = std::function<std::chrono::steady_clock::time_point()>;

  explicit cached_admin_store(admin_store& inner, limits l = {}, clock now = std::chrono::steady_clock::now)
      : inner_(inner), limits_(l), now_(std::move(now)) {}

  // The feed's side. listening() also forgets everything: what changed while it was not
  // listening was never announced.
  void listening(bool live);
  void changed();
  bool live() const { return live_; }

  boost::asio::awaitable<pg::db_result<std::optional<admin_record>>> find_admin(std::string name) override;
  boost::asio::awaitable<pg::db_result<std::optional<session_record>>> find_session(std::string token) override;

  // Writes go to the database; those that change what is kept also forget it here at once, before
  // this server's own notification comes back.
  boost::asio::awaitable<pg::db_result<void>> record_auth_event(std::string name, std::string source, std::string method,
                                                               std::string outcome, std::string announce) override;
  boost::asio::awaitable<pg::db_result<new_session>> create_session(std::string name, std::int32_t password_version,
                                                                   bool otp_verified) override;
  boost::asio::awaitable<pg::db_result<void>> delete_session(std::string token) override;
  boost::asio::awaitable<pg::db_result<void>> mark_session_otp(std::string token) override;
  boost::asio::awaitable<pg::db_result<bool>> accept_totp_step(std::string name, std::int64_t step) override;
  boost::asio::awaitable<pg::db_result<bool>> spend_recovery_code(std::string name, std::string code_hash) override;

 private:
  template <class T>
  struct entry {
    T record;
    std::chrono::steady_clock::time_point read_at;
  };
  // Keeps what a lookup that began at generation `before` found, if the feed was live throughout
  // and nothing changed since; an absence is never kept, so made-up names and tokens cannot
  // crowd out the admins.
  template <class T>
  void keep(std::map<std::string, entry<T>>& kept, const std::string& key, const pg::db_result<std::optional<T>>& found,
            std::uint64_t before, std::chrono::steady_clock::time_point read_at) {
    if (!live_ || generation_ != before || !found || !*found) return;
    if (kept.size() >= limits_.entries) forget();
    kept[key] = entry<T>{**found, read_at};
  }
  void forget();

  admin_store& inner_;
  limits limits_;
  clock now_;
  bool live_ = false;
  std::uint64_t generation_ = 0;  // moves on every change and every change of the feed's state
  std::map<std::string, entry<admin_record>> admins_;      // by admin name
  std::map<std::string, entry<session_record>> sessions_;  // by a hash of the token, never the token
};

}  // namespace smsbridge::api
