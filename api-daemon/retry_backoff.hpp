// The retry delay both outboxes (backend delivery, notifications) use: exponential and bounded.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace smsbridge::api {

// After `failed_attempts` failures (1 or more), wait 2^(failed_attempts - 1) seconds, at most `cap`:
// 1, 2, 4, 8 ... seconds. A receiver back after an outage is tried again within `cap`.
constexpr std::chrono::seconds retry_backoff(int failed_attempts, std::chrono::seconds cap) {
  const int exponent = std::clamp(failed_attempts - 1, 0, 30);
  return std::min(cap, std::chrono::seconds(std::int64_t{1} << exponent));
}

}  // namespace smsbridge::api
