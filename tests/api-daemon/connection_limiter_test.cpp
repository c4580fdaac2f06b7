// Connection caps: per source and in total; exempt sources (loopback, proxies) count only in
// the total; a released slot is free again and no source entry outlives its connections.
#include <catch2/catch.hpp>

#include <string>

#include "api-daemon/connection_limiter.hpp"

using namespace smsbridge::api;
using verdict = connection_limiter::verdict;

TEST_CASE("one source cannot take more than its share, and others still get in") {
  connection_limiter l(100, 3);
  for (int i = 0; i < 3; ++i) CHECK(l.admit("203.0.113.5", false) == verdict::admitted);
  CHECK(l.admit("203.0.113.5", false) == verdict::source_full);
  CHECK(l.admit("198.51.100.7", false) == verdict::admitted);
  l.release("203.0.113.5", false);
  CHECK(l.admit("203.0.113.5", false) == verdict::admitted);
  CHECK(l.open() == 4);
}

TEST_CASE("the total cap holds for every source, exempt ones included") {
  connection_limiter l(5, 3);
  for (int i = 0; i < 5; ++i) CHECK(l.admit("127.0.0.1", true) == verdict::admitted);  // beyond the per-source cap
  CHECK(l.admit("198.51.100.7", false) == verdict::server_full);
  CHECK(l.admit("127.0.0.1", true) == verdict::server_full);
  l.release("127.0.0.1", true);
  CHECK(l.admit("198.51.100.7", false) == verdict::admitted);
}

TEST_CASE("source entries go away with their connections, so memory follows the open connections") {
  connection_limiter l(10000, 2);
  for (int i = 0; i < 1000; ++i) {
    const std::string s = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    REQUIRE(l.admit(s, false) == verdict::admitted);
    l.release(s, false);
  }
  CHECK(l.sources() == 0);
  CHECK(l.open() == 0);
}
