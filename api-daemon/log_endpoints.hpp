// The logs: GET /admin/monitoring/logs/list and GET /admin/monitoring/logs/download/{name}, where
// name is a file of the log directory or one of the original's services (application, postgres,
// redis: that service's newest file). Bounded: a download is at most max_log_download, or its
// last ?tail=N lines.
#pragma once

#include "api-daemon/monitoring_context.hpp"

namespace smsbridge::api {

void add_log_routes(router& r, monitoring_context& m);

}  // namespace smsbridge::api
