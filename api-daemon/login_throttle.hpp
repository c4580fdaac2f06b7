// Throttling of failed logins, built so that an attacker can neither evict it nor use it to lock
// the admin out. No I/O.
//
//  - (user, source): `pair_failures` failures within `window` block that pair: the guesser at
//    that address, for that name.
//  - source: `source_failures` failures (any names) block that address. IPv6 addresses count per
//    /64, so one attacker's subnet is one source.
//  - user: `user_failures` failures (any sources) put that admin name under attack: it is then
//    slowed, not blocked: one attempt per `user_interval` from untrusted sources.
//  - a source with a recent successful login (`trust_window`: longer than a browser session, so
//    it covers valid sessions too) is trusted: neither the source nor the user limit applies to it
//    (the pair limit still does).
// Memory is bounded: per-user entries exist only for names of existing admins; pairs and sources
// are capped at `tracked_keys` each, and eviction frees expired keys first, then keys below their
// limit (oldest first), and never a key that is blocking: a full table of blocking keys refuses
// to track one more (the per-user limit still slows that guesser).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace smsbridge::api {

// A failed or successful login one api-daemon shares with the others on the same database
// (NOTIFY sms_bridge_logins, sent with the attempt's row in admin_auth_events), so that servers
// behind one load balancer count a guesser's attempts together: each feeds the others' outcomes
// into its own throttle. A daemon that is not listening (PostgreSQL away) counts its own only.
struct shared_login {
  bool failed = true;        // false: succeeded
  std::string source;        // the client address, as failed() and succeeded() take it
  std::string user;
  bool user_exists = false;  // for a failure: the name is an admin's
};
// "1\t<origin>\t<f|s>\t<0|1>\t<user>\t<source>"; origin names the daemon that sent it. Fields
// are cut to 64 bytes and tabs and newlines in them replaced, so a payload always parses back.
std::string encode_shared_login(std::string_view origin, const shared_login& outcome);
// nullopt for this daemon's own outcome (`own_origin`: already counted) and for anything that is
// not a payload encode_shared_login wrote.
std::optional<shared_login> parse_shared_login(std::string_view payload, std::string_view own_origin);

class login_throttle {
 public:
  using clock = std::chrono::steady_clock;
  struct limits {
    std::size_t pair_failures = 5;
    std::size_t source_failures = 10;
    std::size_t user_failures = 10;
    std::chrono::seconds window{15 * 60};
    std::chrono::seconds user_interval{5};
    std::chrono::seconds trust_window{24 * 60 * 60};
    std::size_t tracked_keys = 10000;  // pairs, and sources, each
    std::size_t trusted_sources = 1024;
    std::size_t tracked_users = 1024;
  };

  explicit login_throttle(limits l) : limits_(l) {}

  // Seconds `source` must wait before trying `user` again; 0 if it may try now, and then the
  // attempt is counted (it takes the user's slot while the user is under attack). The second
  // half of one attempt (the code after the password the same request just had checked) passes
  // takes_user_slot = false: it has its slot, and a second one would refuse it every time.
  long admit(const std::string& source, const std::string& user, clock::time_point now, bool takes_user_slot = true);
  // A failed attempt. `user_exists`: the name is an admin's (only those get a per-user entry).
  void failed(const std::string& source, const std::string& user, bool user_exists, clock::time_point now);
  // A successful login: clears the pair's failures and trusts the source.
  void succeeded(const std::string& source, const std::string& user, clock::time_point now);

  // The key a client address is throttled under: the address itself, or its /64 for IPv6.
  static std::string source_key(const std::string& address);

  struct sizes {
    std::size_t pairs, sources, users, trusted;
  };
  sizes tracked() const { return {pairs_.size(), sources_.size(), users_.size(), trusted_.size()}; }

 private:
  using failure_times = std::deque<clock::time_point>;
  struct user_state {
    failure_times failures;
    clock::time_point next_slot{};
  };
  bool trusted(const std::string& source, clock::time_point now);
  void record(std::map<std::string, failure_times>& table, const std::string& key, std::size_t limit, clock::time_point now);

  limits limits_;
  std::map<std::string, failure_times> pairs_;    // "user\0source"
  std::map<std::string, failure_times> sources_;  // source_key
  std::map<std::string, user_state> users_;       // admin names
  std::map<std::string, clock::time_point> trusted_;  // source_key → last successful login
};

}  // namespace smsbridge::api
