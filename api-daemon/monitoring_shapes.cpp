// H:MM:SS for the original's time_remaining.
#include "api-daemon/monitoring_shapes.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace smsbridge::api {

std::string time_remaining_text(std::int64_t seconds) {
  const std::int64_t s = std::max<std::int64_t>(0, seconds);
  return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

}  // namespace smsbridge::api
