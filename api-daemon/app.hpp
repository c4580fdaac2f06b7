// TRANSITIONAL: what monitoring_api.cpp still reaches through one bag, until it is split into its
// concerns on firewall_client. Nothing else includes this header.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/admin_gate.hpp"
#include "api-daemon/api_config.hpp"
#include "api-daemon/audit_drain.hpp"
#include "api-daemon/database.hpp"
#include "api-daemon/http_router.hpp"
#include "api-daemon/worker.hpp"
#include "common/result.hpp"
#include "firewall.pb.h"

namespace smsbridge::api {

struct app {
  const api_config& config;
  database& db;
  worker& helper_thread;  // the blocking helper client of call_helper runs here
  admin_gate& gate;
  audit_drain& audit;
  std::function<void(std::string_view)> report;
  struct {
    std::string address;
    std::chrono::steady_clock::time_point asked_at;
  } host_address;
};

boost::asio::awaitable<fallible<firewall::v1::Response>> call_helper(app& a, firewall::v1::Request request);

inline boost::asio::awaitable<void> drain_audit(app& a) { return a.audit.drain(); }
inline std::string client_address(const app& a, const http_request& request, const request_context& context) {
  return a.gate.proxies().client_address(request, context);
}
inline handler require_admin(app& a, admin_handler inner) { return a.gate.require_admin(std::move(inner)); }

void add_monitoring_routes(router& r, app& a);

}  // namespace smsbridge::api
