// time_remaining reads as the original's str(timedelta) did, without the microseconds.
#include <catch2/catch.hpp>

#include "api-daemon/monitoring_shapes.hpp"

using namespace smsbridge::api;

TEST_CASE("time remaining is written as H:MM:SS") {
  CHECK(time_remaining_text(0) == "0:00:00");
  CHECK(time_remaining_text(59) == "0:00:59");
  CHECK(time_remaining_text(3552) == "0:59:12");
  CHECK(time_remaining_text(3600) == "1:00:00");
  CHECK(time_remaining_text(4 * 3600 - 1) == "3:59:59");
  CHECK(time_remaining_text(25 * 3600 + 61) == "25:01:01");
}

TEST_CASE("a door past its expiry has no time remaining, never a negative one") {
  CHECK(time_remaining_text(-1) == "0:00:00");
  CHECK(time_remaining_text(-7200) == "0:00:00");
}
