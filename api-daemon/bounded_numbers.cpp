// Bounds-first conversions of client numbers (see the header).
#include "api-daemon/bounded_numbers.hpp"

#include <charconv>

namespace smsbridge::api {

std::optional<std::int64_t> minutes_within(std::int64_t minutes, std::int64_t min_seconds, std::int64_t max_seconds) {
  if (min_seconds < 0 || max_seconds < min_seconds) return std::nullopt;
  const std::int64_t lowest = (min_seconds + 59) / 60, highest = max_seconds / 60;  // no overflow: both ≥ 0
  if (minutes < lowest || minutes > highest) return std::nullopt;
  return minutes * 60;  // |minutes| ≤ max_seconds / 60: cannot overflow
}

std::optional<std::int64_t> whole_number(std::string_view text, std::int64_t min, std::int64_t max) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v < min || v > max) return std::nullopt;
  return v;
}

}  // namespace smsbridge::api
