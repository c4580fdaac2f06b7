#include "api-daemon/routes.hpp"

#include "api-daemon/audit_queries.hpp"
#include "api-daemon/doors.hpp"
#include "api-daemon/log_endpoints.hpp"
#include "api-daemon/notification_admin.hpp"
#include "api-daemon/openapi.hpp"
#include "api-daemon/port_config.hpp"
#include "api-daemon/prometheus_export.hpp"
#include "api-daemon/sms_admin.hpp"
#include "api-daemon/web_ui.hpp"

namespace smsbridge::api {

router public_routes(route_parts& p) {
  router r;
  r.add(http::verb::get, "/health", health_endpoint(p.health));
  p.gate.add_routes(r);
  add_web_ui_routes(r);
  add_openapi_route(r);
  if (p.config.monitoring_enabled) {
    add_door_routes(r, p.monitoring);
    add_port_config_routes(r, p.monitoring);
    add_audit_routes(r, p.monitoring);
    add_log_routes(r, p.monitoring);
    add_prometheus_export_route(r, p.monitoring);
    if (p.monitoring.notifications) add_notification_routes(r, p.gate, p.monitoring.settings, *p.monitoring.notifications);
  }
  if (!p.config.hmac_secret.empty() && !p.config.sms_api_key.empty()) {
    add_sms_public_routes(r, p.sms);
    add_sms_admin_routes(r, p.gate, p.sms, p.backend);
  }
  return r;
}

router metrics_routes(route_parts& p) {
  router r;
  r.add(http::verb::get, "/health", health_endpoint(p.health));
  r.add(http::verb::get, "/metrics", metrics_endpoint(p.health, p.helper, &p.sms.store, p.stats));
  r.add(http::verb::get, "/metrics/history", history_endpoint(p.history));
  return r;
}

}  // namespace smsbridge::api
