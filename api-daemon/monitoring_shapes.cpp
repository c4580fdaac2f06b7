// H:MM:SS for the original's time_remaining.
#include "api-daemon/monitoring_shapes.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace smsbridge::api {

std::string time_remaining_text(std::int64_t seconds) {
  const std::int64_t s = std::max<std::int64_t>(0, seconds);
  return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

std::optional<std::string> reason_problem(std::string_view reason) {
  constexpr std::size_t max_characters = 200;
  std::size_t characters = 0;
  for (std::size_t i = 0; i < reason.size(); ++i) {
    const auto c = static_cast<unsigned char>(reason[i]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: part of the character before
    ++characters;
    const bool c1 = c == 0xC2 && i + 1 < reason.size() && static_cast<unsigned char>(reason[i + 1]) < 0xA0;  // U+0080..U+009F
    if (c < 0x20 || c == 0x7F || c1) return "'reason' must not contain control characters (such as a line break or a tab).";
  }
  if (characters > max_characters) {
    return fmt::format("'reason' must be at most {} characters; this one has {}.", max_characters, characters);
  }
  return std::nullopt;
}

}  // namespace smsbridge::api
