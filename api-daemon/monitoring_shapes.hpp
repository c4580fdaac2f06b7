// Pure pieces of the original v2.3 response shapes that the monitoring endpoints share.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smsbridge::api {

// The original's time_remaining (Python's str(timedelta) without the microseconds): "H:MM:SS",
// e.g. "0:59:12"; hours grow past 23 ("25:00:00") where Python would write "1 day, 1:00:00".
// Negative input (a door past its expiry, not yet closed) gives "0:00:00". Never fails.
std::string time_remaining_text(std::int64_t seconds);

// Why a door's reason (given to open-port, open-all and extend-port) is refused, as a 422
// sentence; nullopt when it is acceptable: at most 200 characters (code points of UTF-8 text,
// which the JSON parser has already checked), none of them a control character (C0, DEL, C1),
// so that it reads the same in a log line, a table cell and a notification.
std::optional<std::string> reason_problem(std::string_view reason);

}  // namespace smsbridge::api
