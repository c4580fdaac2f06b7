// A per-source request budget (N requests per window) for unauthenticated endpoints that write
// rows (register, pin-setup). No I/O.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <string>

namespace smsbridge::api {

class source_rate_limiter {
 public:
  using clock = std::chrono::steady_clock;
  struct limits {
    std::size_t requests = 60;            // per source, within `window` (SMS_BRIDGE_SMS_REQUESTS_PER_SOURCE)
    std::chrono::seconds window{10 * 60};
    std::size_t tracked_sources = 10000;  // memory bound: the source seen least recently goes first
  };
  explicit source_rate_limiter(limits l) : limits_(l) {}

  // 0 if `address` may make a request now (and counts it), else the seconds until it may.
  // IPv6 addresses count per /64, as in the login throttle; loopback (this host) is not limited.
  long admit(const std::string& address, clock::time_point now);

  std::size_t tracked() const { return seen_.size(); }

 private:
  limits limits_;
  std::map<std::string, std::deque<clock::time_point>> seen_;
};

}  // namespace smsbridge::api
