// GET /admin/monitoring/export-prometheus-config: the laptop's Prometheus configuration, scraping
// this server through the doors of the settings file at the address laptops reach it by.
#pragma once

#include "api-daemon/monitoring_context.hpp"

namespace smsbridge::api {

void add_prometheus_export_route(router& r, monitoring_context& m);

}  // namespace smsbridge::api
