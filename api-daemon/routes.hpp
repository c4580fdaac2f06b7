// The api-daemon's endpoints, wired into route tables for the public and the metrics listener.
#pragma once

#include <string>

#include "api-daemon/api_config.hpp"
#include "api-daemon/database.hpp"
#include "api-daemon/http_router.hpp"

namespace smsbridge::api {

struct app_context {
  const api_config& config;
  database& db;
};

// GET /health: {"status": "ok"|"degraded", "database": "up"|"down", "firewall_helper": "up"|"down",
// "version"}; 200 when the database is up, 503 otherwise (a load balancer's signal).
handler health_endpoint(app_context& app);

router public_routes(app_context& app);
router metrics_routes(app_context& app);

}  // namespace smsbridge::api
