// The per-source budget of register and pin-setup: N per window per address (IPv6 per /64),
// loopback exempt, memory bounded.
#include <catch2/catch.hpp>

#include <string>

#include <fmt/format.h>

#include "api-daemon/source_rate_limiter.hpp"

using namespace smsbridge::api;
using namespace std::chrono_literals;

TEST_CASE("an address gets its budget per window, others theirs, loopback no limit") {
  source_rate_limiter::limits l;
  l.requests = 3;
  source_rate_limiter r(l);
  const auto t0 = source_rate_limiter::clock::time_point{} + 100h;
  for (int i = 0; i < 3; ++i) CHECK(r.admit("203.0.113.5", t0) == 0);
  const long wait = r.admit("203.0.113.5", t0 + 1s);
  CHECK(wait > 0);
  CHECK(wait <= 600);
  CHECK(r.admit("198.51.100.7", t0) == 0);
  CHECK(r.admit("2001:db8:1:2::1", t0) == 0);
  for (int i = 0; i < 2; ++i) CHECK(r.admit(fmt::format("2001:db8:1:2::{}", i + 2), t0) == 0);
  CHECK(r.admit("2001:db8:1:2:ffff::1", t0) > 0);  // the same /64
  for (int i = 0; i < 100; ++i) CHECK(r.admit("127.0.0.1", t0) == 0);
  CHECK(r.admit("203.0.113.5", t0 + 10min) == 0);  // the window passed
}

TEST_CASE("the budget's memory is bounded") {
  source_rate_limiter::limits l;
  l.tracked_sources = 50;
  source_rate_limiter r(l);
  const auto t0 = source_rate_limiter::clock::time_point{} + 100h;
  for (int i = 0; i < 5000; ++i) r.admit(fmt::format("10.{}.{}.1", i / 250, i % 250), t0 + std::chrono::milliseconds(i));
  CHECK(r.tracked() <= 50);
}
