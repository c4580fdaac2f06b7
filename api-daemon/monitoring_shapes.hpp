// Pure pieces of the original v2.3 response shapes that the monitoring endpoints share.
#pragma once

#include <cstdint>
#include <string>

namespace smsbridge::api {

// The original's time_remaining (Python's str(timedelta) without the microseconds): "H:MM:SS",
// e.g. "0:59:12"; hours grow past 23 ("25:00:00") where Python would write "1 day, 1:00:00".
// Negative input (a door past its expiry, not yet closed) gives "0:00:00". Never fails.
std::string time_remaining_text(std::int64_t seconds);

}  // namespace smsbridge::api
