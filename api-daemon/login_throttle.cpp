// Throttling of failed logins: a sliding window of failure times per key.
#include "api-daemon/login_throttle.hpp"

#include <algorithm>

namespace smsbridge::api {

long login_throttle::wait_for(const std::string& key, clock::time_point now) {
  auto it = failures_.find(key);
  if (it == failures_.end()) return 0;
  auto& times = it->second;
  while (!times.empty() && times.front() + limits_.window <= now) times.pop_front();
  if (times.empty()) {
    failures_.erase(it);
    return 0;
  }
  if (times.size() < limits_.failures) return 0;
  const auto free_at = times[times.size() - limits_.failures] + limits_.window;
  return std::max<long>(1, std::chrono::duration_cast<std::chrono::seconds>(free_at - now).count());
}

void login_throttle::record(const std::string& key, clock::time_point now) {
  if (failures_.size() >= limits_.tracked_keys && !failures_.count(key)) {
    // Forget the key whose latest failure is oldest.
    auto oldest = std::min_element(failures_.begin(), failures_.end(),
                                   [](const auto& a, const auto& b) { return a.second.back() < b.second.back(); });
    failures_.erase(oldest);
  }
  auto& times = failures_[key];
  times.push_back(now);
  while (times.size() > limits_.failures) times.pop_front();
}

long login_throttle::retry_after(const std::string& source, const std::string& user, clock::time_point now) {
  return std::max(wait_for("source:" + source, now), wait_for("user:" + user, now));
}

void login_throttle::failed(const std::string& source, const std::string& user, clock::time_point now) {
  record("source:" + source, now);
  record("user:" + user, now);
}

void login_throttle::succeeded(const std::string& user) { failures_.erase("user:" + user); }

}  // namespace smsbridge::api
