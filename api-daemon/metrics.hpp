// Prometheus metrics of sms-bridge-api (prometheus-cpp core; the text is served by Beast).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "firewall.pb.h"

namespace prometheus {
class Registry;
class Gauge;
class Counter;
template <typename T>
class Family;
class Histogram;
}  // namespace prometheus

namespace smsbridge::api {

// The helper's own figures from its Status (counters since it started, its start time and the
// latency of its nft batches) as Prometheus text, named sms_bridge_firewall_helper_*: the helper
// serves no HTTP, so the api-daemon exports them for it.
std::string helper_metrics_text(const firewall::v1::StatusResult& status);

class metrics {
 public:
  metrics();
  ~metrics();
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  // One answered HTTP request. `route` is a path of the route table or "unmatched" (bounded labels).
  // On the I/O thread only: the series it finds are kept in an unlocked map.
  void observe_request(std::string_view route, std::string_view method, unsigned status, double seconds);
  // A door event recorded in the audit trail: kind is opened, closed, expired, expired_while_down, ...
  void door_event(std::string_view service, std::string_view kind);
  // Live doors per service (services not listed are set to 0).
  void set_open_doors(const std::map<std::string, int>& per_service);
  void set_helper_up(bool up);
  void set_database_up(bool up);
  void set_audit_backlog(double events);
  // The SMS flow, in the original's metric names.
  void onboarding(std::string_view status);
  void sms_received(std::string_view status);
  void pin_collected(std::string_view status);
  void validation_failure(std::string_view check);
  void rate_limited();
  void set_sms_gauges(double outbox_pending, double active_codes, double blacklist_size);
  // Notifications: one delivered or one failed attempt, per channel (webhook, ntfy); the rows waiting.
  void notification_sent(std::string_view channel);
  void notification_failed(std::string_view channel);
  void set_notification_outbox_depth(double pending);

  // The text exposition format (version 0.0.4), with the process figures (memory, CPU, open and
  // allowed descriptors) read now.
  std::string render();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* latency_;
  // Each route's series, found once: prometheus-cpp's Add() hashes a label map under a mutex,
  // which on every request cost more than the counting. Bounded as the labels are.
  struct route_series {
    prometheus::Histogram* latency;
    std::vector<std::tuple<std::string, unsigned, prometheus::Counter*>> answered;  // by method and code
  };
  std::map<std::string, route_series, std::less<>> routes_;
  prometheus::Family<prometheus::Counter>* door_events_;
  prometheus::Family<prometheus::Gauge>* open_doors_;
  prometheus::Gauge* helper_up_;
  prometheus::Gauge* database_up_;
  prometheus::Gauge* audit_backlog_;
  // Prometheus' standard process metrics (the names every client library exports).
  prometheus::Gauge* resident_memory_;
  prometheus::Gauge* virtual_memory_;
  prometheus::Counter* cpu_seconds_;
  prometheus::Gauge* start_time_;
  prometheus::Gauge* open_fds_;
  prometheus::Gauge* max_fds_;
  prometheus::Family<prometheus::Counter>* onboarding_;
  prometheus::Family<prometheus::Counter>* sms_received_;
  prometheus::Family<prometheus::Counter>* pin_collected_;
  prometheus::Family<prometheus::Counter>* validation_failures_;
  prometheus::Counter* rate_limited_;
  prometheus::Gauge* outbox_pending_;
  prometheus::Gauge* active_codes_;
  prometheus::Gauge* blacklist_size_;
  prometheus::Family<prometheus::Counter>* notifications_sent_;
  prometheus::Family<prometheus::Counter>* notifications_failed_;
  prometheus::Gauge* notification_outbox_depth_;
  double cpu_seen_ = 0;
  std::map<std::string, int> known_services_;
};

}  // namespace smsbridge::api
