// A per-source request budget (see the header).
#include "api-daemon/source_rate_limiter.hpp"

#include <algorithm>

#include "api-daemon/login_throttle.hpp"
#include "proto/net_types.hpp"

namespace smsbridge::api {

long source_rate_limiter::admit(const std::string& address, clock::time_point now) {
  if (auto ip = firewall::parse_ip_address(address); ip && ip->is_loopback()) return 0;
  const std::string source = login_throttle::source_key(address);
  auto it = seen_.find(source);
  if (it == seen_.end()) {
    if (seen_.size() >= limits_.tracked_sources) {
      // Forget the source whose latest request is oldest (expired ones first, by construction).
      seen_.erase(std::min_element(seen_.begin(), seen_.end(),
                                   [](const auto& a, const auto& b) { return a.second.back() < b.second.back(); }));
    }
    it = seen_.emplace(source, std::deque<clock::time_point>{}).first;
  }
  auto& times = it->second;
  while (!times.empty() && times.front() + limits_.window <= now) times.pop_front();
  if (times.size() >= limits_.requests) {
    const auto free_at = times.front() + limits_.window;
    return std::max<long>(1, std::chrono::duration_cast<std::chrono::seconds>(free_at - now).count());
  }
  times.push_back(now);
  return 0;
}

}  // namespace smsbridge::api
