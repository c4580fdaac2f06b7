// What the /admin/monitoring concerns (doors, port config, audit queries, logs, the Prometheus
// export, notifications) share: their parts, where laptops reach this server, and how a refusal is answered.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <google/protobuf/timestamp.pb.h>

#include "api-daemon/admin_gate.hpp"
#include "api-daemon/api_config.hpp"
#include "api-daemon/audit_drain.hpp"
#include "api-daemon/audit_store.hpp"
#include "api-daemon/firewall_client.hpp"
#include "api-daemon/notification_outbox.hpp"
#include "api-daemon/settings_source.hpp"

namespace smsbridge::api {

// The address a laptop should use: SMS_BRIDGE_SERVER_IP; else the address of the default route
// of the helper's host, which the helper reports (it lives in the host's network namespace even
// when this daemon runs in a container, where our own address would be the container's); else
// our own. The helper's answer is kept for a minute.
class server_address_source {
 public:
  server_address_source(std::string configured, firewall_client& helper) : configured_(std::move(configured)), helper_(helper) {}
  boost::asio::awaitable<std::string> get();

  // This server's name in the shared audit trail: SMS_BRIDGE_SERVER_IP, else what the helper
  // reports ("" when it has no default route: a server with no name); nullopt when the helper
  // cannot be asked. Never our own address, which differs from the helper's in a container and is
  // the same on every host of a compose network: a name that changed between two drains would
  // record a repeated event twice.
  boost::asio::awaitable<std::optional<std::string>> identity();

 private:
  std::string configured_;  // "auto" or an address
  firewall_client& helper_;
  std::string known_;
  std::chrono::steady_clock::time_point asked_at_;
};

struct monitoring_context {
  const api_config& config;
  firewall_client& helper;
  settings_source& settings;
  audit_drain& audit;
  audit_store& trail;
  admin_gate& gate;
  server_address_source& address;
  notification_store* notifications = nullptr;  // close_failed notifications and the notification routes; none without it
};

// An admin endpoint of a monitoring concern: fn(context, request, admin).
using monitoring_handler = boost::asio::awaitable<http_response> (*)(monitoring_context&, const http_request&,
                                                                      const request_context&, const std::string& admin);
handler monitoring_endpoint(monitoring_context& m, monitoring_handler fn);

// Logs a refusal that is ours to fix, with its detail (the helper away: a warning; a helper that
// could not act: an error). A refusal of the request itself is the caller's answer, not a log line.
void log_refusal(const refusal& r);

// The HTTP answer to a helper refusal (http_status_of, public_sentence), logged by log_refusal.
http_response refused(const http_request& request, const refusal& r);

// The doors of the settings file; nullopt (and an error in the log) when it cannot be read.
std::optional<monitoring_ports> read_ports(monitoring_context& m);
http_response settings_unreadable(const http_request& request);

// ISO 8601 in UTC with a Z (the original wrote naive local time).
std::string iso(const google::protobuf::Timestamp& t);
std::string now_iso();

}  // namespace smsbridge::api
