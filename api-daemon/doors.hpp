// The doors: GET services and port-status, POST open-port, extend-port, close-port, open-all and close-all.
// Input is checked here first (the helper checks again); each door change is one helper round
// trip, and the audit trail follows it right after (audit_drain::drain_soon).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "api-daemon/monitoring_context.hpp"

namespace smsbridge::api {

// The seed's connection_info of a door; passwords are never included.
boost::json::object connection_info(const api_config& config, std::string_view service, std::uint32_t port, const std::string& ip);

// The original's get_active_ports() map, {service: {port, opened_at, expires_at, opened_by,
// time_remaining: "H:MM:SS", connection_info}}, plus source, reason, time_remaining_seconds and
// the deadline as the kernel sees it: kernel_expires_in_seconds (null when the helper did not
// read it), kernel_drift (the kernel and the state disagree by more than drift_tolerance_ms) and
// drift_repaired_at (from `audit`'s drained events). The helper closes expired doors itself, so
// nothing here has expired.
boost::json::object active_ports(const api_config& config, const v1::ListResult& list, const std::string& ip,
                                 const audit_drain* audit = nullptr);

// The helper repairs a kernel timeout that is off by more than this; the same figure here.
constexpr std::int64_t drift_tolerance_ms = 2000;

// A grant's kernel_expires_in_ms in whole seconds (rounded down), or null when it is absent.
boost::json::value kernel_seconds(const v1::Grant& g);

// A door's duration from duration_minutes or duration_seconds (JSON numbers, or the query string
// for open-all) within SMS_BRIDGE_PORT_{MIN,MAX}_DURATION_SECONDS; an hour when neither is given.
struct duration_choice {
  std::int64_t seconds = 60 * 60;
  std::optional<std::string> error;  // a 422 sentence
};
duration_choice read_duration(const api_config& config, const boost::json::object* body, std::string_view target);

void add_door_routes(router& r, monitoring_context& m);

}  // namespace smsbridge::api
