// The doors' configuration: GET/POST /admin/monitoring/port-config, POST port-config/reset and
// GET port-config/available-ports. A change is validated against the rules and the helper (its
// services, ports that are free) and refused while any door is open.
#pragma once

#include "api-daemon/monitoring_context.hpp"

namespace smsbridge::api {

void add_port_config_routes(router& r, monitoring_context& m);

}  // namespace smsbridge::api
