// The api-daemon's route tables, composed from the concerns: the public listener and the metrics
// listener.
#pragma once

#include "api-daemon/admin_gate.hpp"
#include "api-daemon/api_config.hpp"
#include "api-daemon/backend_client.hpp"
#include "api-daemon/health.hpp"
#include "api-daemon/history.hpp"
#include "api-daemon/monitoring_context.hpp"
#include "api-daemon/sms_public.hpp"

namespace smsbridge::api {

// What the tables are built from; main.cpp owns every part.
struct route_parts {
  const api_config& config;
  admin_gate& gate;
  health_monitor& health;
  firewall_client& helper;
  metrics& stats;
  sms_api_context& sms;
  api::backend& backend;
  monitoring_context& monitoring;
  const metrics_history& history;
};

// /health, the admin login and UI, /admin/openapi.json, the monitoring endpoints
// (MONITORING_ENABLED), and the SMS API (only when both SMS secrets are set). docs/openapi.yaml
// documents every route of both tables (tests/api-daemon/openapi_test.cpp holds it to that).
router public_routes(route_parts& parts);

// /health and /metrics.
router metrics_routes(route_parts& parts);

}  // namespace smsbridge::api
