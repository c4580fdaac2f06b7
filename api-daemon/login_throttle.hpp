// Throttling of failed logins, per source address and per user name. No I/O.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <string>

namespace smsbridge::api {

class login_throttle {
 public:
  using clock = std::chrono::steady_clock;
  struct limits {
    std::size_t failures = 5;                 // within `window`, then refuse
    std::chrono::seconds window{15 * 60};
    std::size_t tracked_keys = 10000;         // memory bound: oldest keys are forgotten first
  };

  explicit login_throttle(limits l) : limits_(l) {}

  // Seconds to wait before `source` or `user` may try again; 0 if allowed now.
  long retry_after(const std::string& source, const std::string& user, clock::time_point now);
  void failed(const std::string& source, const std::string& user, clock::time_point now);
  // A success clears the user's failures (not the source's: one address guessing many names stays slowed).
  void succeeded(const std::string& user);

 private:
  long wait_for(const std::string& key, clock::time_point now);
  void record(const std::string& key, clock::time_point now);

  limits limits_;
  std::map<std::string, std::deque<clock::time_point>> failures_;
};

}  // namespace smsbridge::api
