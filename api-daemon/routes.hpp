// The api-daemon's route tables: the public listener and the metrics listener.
#pragma once

#include "api-daemon/app.hpp"

namespace smsbridge::api {

// GET /health: {"status": healthy|degraded|unhealthy, "checks": {database, firewall_helper,
// backend_sync}, "database", "firewall_helper", "version", "timestamp"}; 503 only when unhealthy
// (no database). The checks behind it run at most once a second.
handler health_endpoint(app& a);

// GET /metrics (metrics listener only): the Prometheus text format.
handler metrics_endpoint(app& a);

router public_routes(app& a);
router metrics_routes(app& a);

}  // namespace smsbridge::api
