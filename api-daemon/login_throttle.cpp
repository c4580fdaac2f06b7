// Throttling of failed logins: sliding windows of failure times per pair, source and user, and
// trusted sources (see the header for the rules).
#include "api-daemon/login_throttle.hpp"

#include <algorithm>

#include "proto/net_types.hpp"

namespace smsbridge::api {

namespace {
using clock = login_throttle::clock;

void expire(std::deque<clock::time_point>& times, clock::time_point now, std::chrono::seconds window) {
  while (!times.empty() && times.front() + window <= now) times.pop_front();
}

// Seconds until fewer than `limit` failures remain in the window; 0 if already fewer.
long blocked_for(std::deque<clock::time_point>& times, std::size_t limit, clock::time_point now, std::chrono::seconds window) {
  expire(times, now, window);
  if (times.size() < limit) return 0;
  const auto free_at = times[times.size() - limit] + window;
  return std::max<long>(1, std::chrono::duration_cast<std::chrono::seconds>(free_at - now).count());
}

long seconds_until(clock::time_point t, clock::time_point now) {
  if (t <= now) return 0;
  return std::max<long>(1, std::chrono::duration_cast<std::chrono::seconds>(t - now + std::chrono::milliseconds(999)).count());
}

std::string pair_key(const std::string& user, const std::string& source) { return user + '\0' + source; }

// One field of a shared login payload: at most 64 bytes, no tab or line break.
std::string field(std::string_view s) {
  std::string out(s.substr(0, 64));
  for (char& c : out)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return out;
}
}  // namespace

std::string encode_shared_login(std::string_view origin, const shared_login& outcome) {
  return "1\t" + field(origin) + (outcome.failed ? "\tf\t" : "\ts\t") + (outcome.user_exists ? "1\t" : "0\t") + field(outcome.user) +
         "\t" + field(outcome.source);
}

std::optional<shared_login> parse_shared_login(std::string_view payload, std::string_view own_origin) {
  std::string_view parts[6];
  for (std::size_t i = 0; i < 6; ++i) {
    const auto tab = payload.find('\t');
    if ((tab == std::string_view::npos) != (i == 5)) return std::nullopt;  // exactly six fields
    parts[i] = payload.substr(0, tab);
    payload = tab == std::string_view::npos ? std::string_view{} : payload.substr(tab + 1);
  }
  if (parts[0] != "1" || parts[1].empty() || parts[1] == own_origin) return std::nullopt;
  if ((parts[2] != "f" && parts[2] != "s") || (parts[3] != "0" && parts[3] != "1")) return std::nullopt;
  if (parts[4].empty() || parts[4].size() > 64 || parts[5].empty() || parts[5].size() > 64) return std::nullopt;
  return shared_login{parts[2] == "f", std::string(parts[5]), std::string(parts[4]), parts[3] == "1"};
}

std::string login_throttle::source_key(const std::string& address) {
  auto ip = firewall::parse_ip_address(address);
  if (!ip || ip->family == firewall::ip_family::v4) return address;
  for (std::size_t i = 8; i < 16; ++i) ip->bytes[i] = 0;
  return ip->to_string() + "/64";
}

bool login_throttle::trusted(const std::string& source, clock::time_point now) {
  auto it = trusted_.find(source);
  if (it == trusted_.end()) return false;
  if (it->second + limits_.trust_window > now) return true;
  trusted_.erase(it);
  return false;
}

long login_throttle::admit(const std::string& address, const std::string& user, clock::time_point now, bool takes_user_slot) {
  const std::string source = source_key(address);
  long wait = 0;
  if (auto it = pairs_.find(pair_key(user, source)); it != pairs_.end()) {
    wait = blocked_for(it->second, limits_.pair_failures, now, limits_.window);
    if (it->second.empty()) pairs_.erase(it);
  }
  if (wait > 0 || trusted(source, now)) return wait;
  if (auto it = sources_.find(source); it != sources_.end()) {
    wait = blocked_for(it->second, limits_.source_failures, now, limits_.window);
    if (it->second.empty()) sources_.erase(it);
  }
  if (wait > 0 || !takes_user_slot) return wait;
  if (auto it = users_.find(user); it != users_.end()) {
    auto& u = it->second;
    expire(u.failures, now, limits_.window);
    if (u.failures.size() >= limits_.user_failures) {
      // Under attack: slowed, not blocked. One untrusted attempt per interval, whoever makes it.
      if (const long slot = seconds_until(u.next_slot, now); slot > 0) return slot;
      u.next_slot = now + limits_.user_interval;
    } else if (u.failures.empty()) {
      users_.erase(it);
    }
  }
  return 0;
}

void login_throttle::record(std::map<std::string, failure_times>& table, const std::string& key, std::size_t limit,
                            clock::time_point now) {
  if (table.size() >= limits_.tracked_keys && !table.count(key)) {
    // Free expired keys; failing that the key below its limit whose latest failure is oldest;
    // never a key that is blocking.
    auto victim = table.end();
    for (auto it = table.begin(); it != table.end();) {
      expire(it->second, now, limits_.window);
      if (it->second.empty()) {
        it = table.erase(it);
        continue;
      }
      if (it->second.size() < limit && (victim == table.end() || it->second.back() < victim->second.back())) victim = it;
      ++it;
    }
    if (table.size() >= limits_.tracked_keys) {
      if (victim == table.end()) return;  // every key is blocking: keep them all
      table.erase(victim);
    }
  }
  auto& times = table[key];
  times.push_back(now);
  while (times.size() > limit) times.pop_front();
}

void login_throttle::failed(const std::string& address, const std::string& user, bool user_exists, clock::time_point now) {
  const std::string source = source_key(address);
  record(pairs_, pair_key(user, source), limits_.pair_failures, now);
  record(sources_, source, limits_.source_failures, now);
  if (!user_exists) return;
  if (!users_.count(user) && users_.size() >= limits_.tracked_users) return;  // more admins than that: unlikely
  auto& times = users_[user].failures;
  times.push_back(now);
  while (times.size() > limits_.user_failures) times.pop_front();
}

void login_throttle::succeeded(const std::string& address, const std::string& user, clock::time_point now) {
  const std::string source = source_key(address);
  pairs_.erase(pair_key(user, source));
  if (trusted_.size() >= limits_.trusted_sources && !trusted_.count(source)) {
    // Only successful logins add to this table, so the attacker cannot fill it: forget the
    // source whose last login is oldest.
    trusted_.erase(std::min_element(trusted_.begin(), trusted_.end(),
                                    [](const auto& a, const auto& b) { return a.second < b.second; }));
  }
  trusted_[source] = now;
}

}  // namespace smsbridge::api
