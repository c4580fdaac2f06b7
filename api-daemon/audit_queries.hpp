// The doors' audit trail, read: GET /admin/monitoring/history (one entry per door) and
// GET /admin/monitoring/audit (one entry per action). Each drains the helper's journal first, so
// a door change just made is in the answer.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api-daemon/monitoring_context.hpp"

namespace smsbridge::api {

// ?limit=N (1..1000, default `default_limit`) and ?service=NAME; or a 422 sentence.
struct audit_query {
  audit_filter filter;
  std::optional<std::string> error;
};
audit_query read_audit_query(std::string_view target, std::int64_t default_limit);

void add_audit_routes(router& r, monitoring_context& m);

}  // namespace smsbridge::api
