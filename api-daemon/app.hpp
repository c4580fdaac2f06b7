// What every endpoint of sms-bridge-api shares: configuration, the database, the helper, auth.
#pragma once

#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/api_config.hpp"
#include "api-daemon/basic_auth.hpp"
#include "api-daemon/database.hpp"
#include "api-daemon/http_router.hpp"
#include "api-daemon/metrics.hpp"
#include "api-daemon/worker.hpp"
#include "common/result.hpp"
#include "firewall.pb.h"

namespace smsbridge::api {

struct app {
  const api_config& config;
  database& db;
  worker& helper_thread;  // the helper client blocks: its calls run here
  basic_auth& auth;
  metrics& stats;
  std::function<void(std::string_view)> report;  // log lines for operators
  // The last /health check (at most one a second), touched on the I/O thread only.
  struct {
    bool checked = false, checking = false, database_up = false, helper_up = false;
    std::string backend_sync = "unknown";  // ok | failing | unknown
    std::chrono::steady_clock::time_point checked_at;
  } health;
  // The helper's host's default-route address and when it was asked (I/O thread only).
  struct {
    std::string address;
    std::chrono::steady_clock::time_point asked_at;
  } host_address;
  // Audit drain state, touched on the I/O thread only.
  bool draining = false;
  bool drain_again = false;
};

// One request to the firewall helper, on the helper thread. Fails with a sentence when the
// helper cannot be reached; a refusal comes back as a Response carrying an Error.
boost::asio::awaitable<fallible<firewall::v1::Response>> call_helper(app& a, firewall::v1::Request request);

// Moves the helper's event journal into PostgreSQL (record_port_opened / record_port_closed and
// firewall_incidents), acknowledging each batch only after its transaction committed. Safe to
// call at any time; concurrent calls coalesce.
boost::asio::awaitable<void> drain_audit(app& a);

// The full reconcile (every SMS_BRIDGE_RECONCILE_INTERVAL_SECONDS): drains, then closes in the
// audit trail every door it shows open that the helper does not hold (system-reconcile).
boost::asio::awaitable<void> reconcile_audit(app& a);

// The client's address: the TCP peer, or X-Forwarded-For's nearest untrusted hop when the peer
// is a trusted proxy.
std::string client_address(const app& a, const http_request& request, const request_context& context);

// Wraps an admin endpoint: 401 (with WWW-Authenticate) unless valid Basic credentials come with
// the request; 503 when the database cannot be asked or too many hashes are waiting.
using admin_handler = std::function<boost::asio::awaitable<http_response>(const http_request&, const request_context&,
                                                                          const std::string& admin)>;
handler require_admin(app& a, admin_handler inner);

void add_monitoring_routes(router& r, app& a);

// POST /onboarding/register, /sms/receive and /pin-setup (only when both secrets are set), and
// POST /admin/trigger-recovery.
void add_sms_routes(router& r, app& a);

// Delivers sync_outbox to the backend forever (see outbox.cpp).
boost::asio::awaitable<void> deliver_outbox(app& a);

}  // namespace smsbridge::api
