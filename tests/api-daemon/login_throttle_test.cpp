// The login throttle: a stranger's failures neither lock the admin out nor evict the throttle's
// memory of them; limits per pair, per source and per user (which slows, not blocks); bounded.
#include <catch2/catch.hpp>

#include <string>

#include <fmt/format.h>

#include "api-daemon/login_throttle.hpp"

using namespace smsbridge::api;
using namespace std::chrono_literals;

namespace {
using clock = login_throttle::clock;
const clock::time_point t0 = clock::time_point{} + 1000h;

// `n` failed attempts, each admitted first as the daemon does; returns how many were admitted.
int guess(login_throttle& t, const std::string& source, const std::string& user, int n, clock::time_point now,
          bool exists = true) {
  int admitted = 0;
  for (int i = 0; i < n; ++i) {
    if (t.admit(source, user, now) > 0) continue;
    ++admitted;
    t.failed(source, user, exists, now);
  }
  return admitted;
}
}  // namespace

TEST_CASE("a stranger's failures block the stranger, not the admin at another address") {
  login_throttle t({});
  CHECK(guess(t, "203.0.113.5", "admin", 12, t0) == 5);  // the pair limit
  CHECK(t.admit("203.0.113.5", "admin", t0) > 0);
  CHECK(t.admit("198.51.100.7", "admin", t0) == 0);       // the admin, elsewhere, never logged in
}

TEST_CASE("a source guessing many names is blocked after its own limit") {
  login_throttle t({});
  for (int i = 0; i < 10; ++i) guess(t, "192.0.2.50", fmt::format("user{}", i), 1, t0, false);
  CHECK(t.admit("192.0.2.50", "bob", t0) > 0);
  CHECK(t.admit("192.0.2.51", "bob", t0) == 0);
  CHECK(t.admit("192.0.2.50", "bob", t0 + 15min) == 0);  // the window passes
}

TEST_CASE("an admin under attack from many sources is slowed, not blocked, and a trusted source is not slowed") {
  login_throttle t({});
  t.succeeded("198.51.100.7", "admin", t0);  // the admin's own address
  for (int i = 0; i < 40; ++i) guess(t, fmt::format("203.0.113.{}", i), "admin", 5, t0 + 1s);
  const auto now = t0 + 10s;  // the attackers' own attempts at t0 + 1 s took the slot until t0 + 6 s
  // A new address, even with the right password, gets one attempt per interval...
  const long first = t.admit("192.0.2.99", "admin", now);
  CHECK(first == 0);
  const long wait = t.admit("192.0.2.98", "admin", now);
  CHECK(wait > 0);
  CHECK(wait <= 5);
  CHECK(t.admit("192.0.2.98", "admin", now + std::chrono::seconds(wait)) == 0);  // slowed, not blocked
  // ... and so does every attacker: 40 sources cannot guess faster than one per interval.
  int admitted = 0;
  for (int s = 0; s < 60; ++s) admitted += t.admit(fmt::format("203.0.114.{}", s), "admin", now + 20s) == 0;
  CHECK(admitted == 1);
  // The admin's trusted address is not slowed at all.
  for (int i = 0; i < 5; ++i) CHECK(t.admit("198.51.100.7", "admin", now + 20s) == 0);
  // A trusted source's own mistakes still hit the pair limit.
  CHECK(guess(t, "198.51.100.7", "admin", 8, now + 20s) == 5);
}

TEST_CASE("trust lasts trust_window, past a browser session's 8 hours") {
  login_throttle t({});
  t.succeeded("198.51.100.7", "admin", t0);
  for (int i = 0; i < 20; ++i) guess(t, fmt::format("203.0.113.{}", i), "admin", 5, t0 + 9h);
  const auto later = t0 + 9h + 10s;  // past the slot the attackers' last attempts took
  for (int i = 0; i < 3; ++i) CHECK(t.admit("198.51.100.7", "admin", later) == 0);
  CHECK(t.admit("198.51.100.8", "admin", later) == 0);
  CHECK(t.admit("198.51.100.8", "admin", later) > 0);
  for (int i = 0; i < 20; ++i) guess(t, fmt::format("203.0.113.{}", i), "admin", 5, t0 + 25h);
  CHECK(t.admit("198.51.100.7", "admin", t0 + 25h + 10s) == 0);  // one slot...
  CHECK(t.admit("198.51.100.7", "admin", t0 + 25h + 10s) > 0);   // ...the trust has lapsed
}

TEST_CASE("IPv6 sources count per /64") {
  CHECK(login_throttle::source_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64");
  CHECK(login_throttle::source_key("10.0.0.1") == "10.0.0.1");
  login_throttle t({});
  for (int i = 0; i < 10; ++i) guess(t, fmt::format("2001:db8:1:2::{:x}", i + 1), fmt::format("user{}", i), 1, t0, false);
  CHECK(t.admit("2001:db8:1:2:ffff::9", "bob", t0) > 0);
  CHECK(t.admit("2001:db8:1:3::1", "bob", t0) == 0);
}

TEST_CASE("memory is bounded and eviction never frees a blocking key") {
  login_throttle::limits l;
  l.tracked_keys = 100;
  login_throttle t(l);
  CHECK(guess(t, "203.0.113.5", "admin", 5, t0) == 5);
  REQUIRE(t.admit("203.0.113.5", "admin", t0) > 0);
  // An attacker with many addresses (unknown names: no per-user entries) tries to evict it.
  for (int i = 0; i < 5000; ++i) guess(t, fmt::format("2001:db8:{:x}::1", i), fmt::format("name{}", i), 1, t0 + 1s, false);
  const auto sizes = t.tracked();
  CHECK(sizes.pairs <= 100);
  CHECK(sizes.sources <= 100);
  CHECK(sizes.users == 1);  // only the real admin's name
  CHECK(t.admit("203.0.113.5", "admin", t0 + 2s) > 0);  // still blocked
  // A table full of blocking keys keeps them all.
  login_throttle full(l);
  for (int i = 0; i < 100; ++i) guess(full, fmt::format("10.0.{}.{}", i / 250, i % 250), "admin", 5, t0);
  guess(full, "10.9.9.9", "admin", 5, t0);
  for (int i = 0; i < 100; ++i) CHECK(full.admit(fmt::format("10.0.{}.{}", i / 250, i % 250), "admin", t0 + 1s) > 0);
}

TEST_CASE("a shared login outcome reads back as it was written, and a daemon's own is skipped") {
  const shared_login failed{true, "203.0.113.9", "alice", true};
  const auto payload = encode_shared_login("server-a", failed);
  CHECK(payload == "1\tserver-a\tf\t1\talice\t203.0.113.9");
  const auto read = parse_shared_login(payload, "server-b");
  REQUIRE(read);
  CHECK(read->failed);
  CHECK(read->source == "203.0.113.9");
  CHECK(read->user == "alice");
  CHECK(read->user_exists);
  CHECK_FALSE(parse_shared_login(payload, "server-a"));  // its own: already counted
  const auto ok = parse_shared_login(encode_shared_login("a", {false, "::1", "bob", false}), "b");
  REQUIRE(ok);
  CHECK_FALSE(ok->failed);
  // A name with a tab or newline, or an over-long one, still makes one readable payload.
  const auto odd = parse_shared_login(encode_shared_login("a", {true, "10.0.0.1", "x\ty\nz" + std::string(100, 'q'), false}), "b");
  REQUIRE(odd);
  CHECK(odd->user.size() == 64);
  CHECK(odd->user.rfind("x y z", 0) == 0);
}

TEST_CASE("anything else on the channel is not a shared login outcome") {
  for (const char* bad : {"", "1", "2\ta\tf\t1\talice\t10.0.0.1", "1\ta\tx\t1\talice\t10.0.0.1", "1\ta\tf\t2\talice\t10.0.0.1",
                          "1\ta\tf\t1\t\t10.0.0.1", "1\ta\tf\t1\talice\t", "1\ta\tf\t1\talice\t10.0.0.1\textra", "1\t\tf\t1\talice\t10.0.0.1"}) {
    INFO(bad);
    CHECK_FALSE(parse_shared_login(bad, "own"));
  }
}
