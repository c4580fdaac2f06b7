// Client numbers are checked against their bounds before any arithmetic: a count of minutes
// whose product with 60 overflows (and would wrap back into range) is refused.
#include <catch2/catch.hpp>

#include <limits>

#include "api-daemon/bounded_numbers.hpp"

using namespace smsbridge::api;

TEST_CASE("minutes within the door's bounds become seconds") {
  CHECK(minutes_within(15, 900, 14400) == 900);
  CHECK(minutes_within(240, 900, 14400) == 14400);
  CHECK(minutes_within(16, 901, 14400) == 960);  // 15 min = 900 s is below a 901 s floor
  CHECK_FALSE(minutes_within(15, 901, 14400));
  CHECK_FALSE(minutes_within(14, 900, 14400));
  CHECK_FALSE(minutes_within(241, 900, 14400));
  CHECK_FALSE(minutes_within(0, 900, 14400));
  CHECK_FALSE(minutes_within(-1, 900, 14400));
}

TEST_CASE("minutes whose product with 60 would overflow are refused, not wrapped") {
  // 4611686018427387964 × 60 wraps to exactly 3600 in 64-bit arithmetic: it opened a door.
  CHECK_FALSE(minutes_within(4611686018427387964, 900, 14400));
  CHECK_FALSE(minutes_within(std::numeric_limits<std::int64_t>::max(), 900, 14400));
  CHECK_FALSE(minutes_within(std::numeric_limits<std::int64_t>::min(), 900, 14400));
  CHECK_FALSE(minutes_within(-4611686018427387964, 900, 14400));
  // Whatever the bounds, never UB: the largest bounds still compute safely.
  const auto huge = std::numeric_limits<std::int64_t>::max();
  CHECK(minutes_within(huge / 60, 0, huge) == huge / 60 * 60);
  CHECK_FALSE(minutes_within(huge / 60 + 1, 0, huge));
}
