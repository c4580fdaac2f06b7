// GET /health and GET /metrics: what the database, the helper and the backend look like now,
// asked at most once a second however many requests come (a load balancer polling every instance
// must not turn into database load).
#pragma once

#include <chrono>
#include <ctime>
#include <functional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/firewall_client.hpp"
#include "api-daemon/http_router.hpp"
#include "api-daemon/metrics.hpp"
#include "api-daemon/outbox.hpp"
#include "api-daemon/sms_store.hpp"
#include "common/service_state.hpp"

namespace smsbridge::api {

class health_monitor {
 public:
  health_monitor(firewall_client& helper, outbox_store& outbox) : helper_(helper), outbox_(outbox) {}

  // Asks again if the last answer is older than a second; concurrent callers during a check wait
  // for the one check in flight.
  boost::asio::awaitable<void> refresh();

  bool database_up() const { return database_up_; }
  bool helper_up() const { return helper_up_; }
  const std::string& backend_sync() const { return backend_sync_; }  // ok | failing | unknown
  // The helper's status of the last check (meaningful while helper_up()).
  const v1::StatusResult& helper_status() const { return helper_status_; }

 private:
  firewall_client& helper_;
  outbox_store& outbox_;
  bool checked_ = false, checking_ = false, database_up_ = false, helper_up_ = false;
  std::string backend_sync_ = "unknown";
  v1::StatusResult helper_status_;
  std::chrono::steady_clock::time_point checked_at_;
};

// The service manager's one-line status: "database up, firewall helper up, 2 doors open" (the doors
// only while the helper answers).
std::string status_line(bool database_up, bool helper_up, unsigned doors_open);

// Every `every`, the shared check (refresh()) becomes manager.status(status_line(...)); the
// manager drops repeats and holds changes to its own gap. Runs until the executor stops.
boost::asio::awaitable<void> report_status(health_monitor& health, service_state& manager,
                                           std::chrono::steady_clock::duration every = std::chrono::seconds(3));

// GET /health: {"status": healthy|degraded|unhealthy, "checks": {database, firewall_helper,
// backend_sync}, "database", "firewall_helper", "version", "timestamp"}; 503 only when unhealthy
// (no database).
// `wall_now`: the clock of the body's timestamp (a parameter so that tests can hold the second).
handler health_endpoint(health_monitor& health, std::function<std::time_t()> wall_now = [] { return std::time(nullptr); });
// That body, for these checks at `now` (UTC). Pure.
std::string health_body(bool database_up, bool helper_up, std::string_view backend_sync, std::time_t now);

// GET /metrics (metrics listener only): the Prometheus text format, with the gauges of doors,
// the helper, the database and the SMS tables read first (the helper's and the database's
// state from the shared check, at most a second old; the doors listed per scrape). `sms` may be null (SMS API off).
handler metrics_endpoint(health_monitor& health, firewall_client& helper, sms_store* sms, metrics& stats);
// The text /metrics serves, read now (what the metrics history samples too).
boost::asio::awaitable<std::string> metrics_text(health_monitor& health, firewall_client& helper, sms_store* sms, metrics& stats);

}  // namespace smsbridge::api
