// Prometheus metrics of sms-bridge-api. Names are prefixed sms_bridge_ and labels are bounded
// (routes from the route table, services from the configuration).
#include "api-daemon/metrics.hpp"

#include "common/build_info.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace smsbridge::api {

metrics::metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("sms_bridge_http_requests_total")
                   .Help("HTTP requests answered, by route, method and status code.")
                   .Register(*registry_);
  latency_ = &prometheus::BuildHistogram()
                  .Name("sms_bridge_http_request_duration_seconds")
                  .Help("Time from a request read to its answer written, by route.")
                  .Register(*registry_);
  door_events_ = &prometheus::BuildCounter()
                      .Name("sms_bridge_monitoring_door_events_total")
                      .Help("Monitoring doors opened, extended and closed (by reason), as recorded in the audit trail.")
                      .Register(*registry_);
  open_doors_ = &prometheus::BuildGauge()
                     .Name("sms_bridge_monitoring_doors_open")
                     .Help("Monitoring doors open now, by service.")
                     .Register(*registry_);
  helper_up_ = &prometheus::BuildGauge()
                    .Name("sms_bridge_firewall_helper_up")
                    .Help("1 if the firewall helper answered at the last scrape.")
                    .Register(*registry_)
                    .Add({});
  database_up_ = &prometheus::BuildGauge()
                      .Name("sms_bridge_database_up")
                      .Help("1 if PostgreSQL answered at the last scrape.")
                      .Register(*registry_)
                      .Add({});
  audit_backlog_ = &prometheus::BuildGauge()
                        .Name("sms_bridge_audit_backlog_events")
                        .Help("Helper events not yet recorded in the audit trail.")
                        .Register(*registry_)
                        .Add({});
  const auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  };
  const auto gauge = [&](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_).Add({});
  };
  resident_memory_ = gauge("process_resident_memory_bytes", "Resident memory size in bytes.");
  virtual_memory_ = gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.");
  cpu_seconds_ = &counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")->Add({});
  start_time_ = gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.");
  open_fds_ = gauge("process_open_fds", "Number of open file descriptors.");
  max_fds_ = gauge("process_max_fds", "Maximum number of open file descriptors.");
  // Read when the metrics are built, at start-up: close enough to exec for a restart detector.
  start_time_->Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  prometheus::BuildGauge()
      .Name("sms_bridge_build_info")
      .Help("Always 1; the labels say which build of sms-bridge-api this is.")
      .Register(*registry_)
      .Add({{"version", std::string(smsbridge::build_version())}, {"revision", std::string(smsbridge::build_revision())}})
      .Set(1);
  onboarding_ = counter("sms_bridge_onboarding_total", "Registrations, by outcome.");
  sms_received_ = counter("sms_bridge_sms_received_total", "SMS received from the gateway, by outcome.");
  pin_collected_ = counter("sms_bridge_pin_collected_total", "PIN setups, by outcome.");
  validation_failures_ = counter("sms_bridge_validation_failures_total", "SMS that failed a validation check, by check.");
  rate_limited_ = &counter("sms_bridge_rate_limited_total", "Registrations refused by the rate limit.")->Add({});
  outbox_pending_ = gauge("sms_bridge_sync_outbox_pending", "Accounts waiting for delivery to the backend.");
  active_codes_ = gauge("sms_bridge_active_codes", "Onboarding codes issued, unused and not expired.");
  blacklist_size_ = gauge("sms_bridge_blacklist_size", "Numbers on the blacklist.");
  notifications_sent_ = counter("sms_bridge_notifications_sent_total", "Notifications delivered, by channel.");
  notifications_failed_ = counter("sms_bridge_notifications_failed_total", "Failed notification attempts, by channel.");
  notification_outbox_depth_ = gauge("sms_bridge_notifications_outbox_pending", "Notifications waiting for delivery (reminders included).");
  for (const char* channel : {"webhook", "ntfy"}) {  // present at 0 before the first one, so rate() sees the first
    notifications_sent_->Add({{"channel", channel}});
    notifications_failed_->Add({{"channel", channel}});
  }
}

metrics::~metrics() = default;

std::string helper_metrics_text(const firewall::v1::StatusResult& status) {
  std::string out;
  const auto family = [&out](std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP sms_bridge_firewall_helper_{} {}\n# TYPE sms_bridge_firewall_helper_{} {}\n",
                   name, help, name, type);
  };
  const auto counter = [&](std::string_view name, std::uint64_t value, std::string_view help) {
    family(fmt::format("{}_total", name), "counter", help);
    fmt::format_to(std::back_inserter(out), "sms_bridge_firewall_helper_{}_total {}\n", name, value);
  };
  const auto& c = status.counters();
  counter("opens", c.opens(), "Doors the firewall helper opened since it started.");
  counter("closes", c.closes(), "Doors closed by a request or at shutdown since the helper started.");
  counter("expiries", c.expiries(), "Doors closed at their deadline since the helper started.");
  counter("refusals", c.refusals(), "Requests the helper refused since it started.");
  counter("drift_repairs", c.drift_repairs(), "Times the helper repaired its table after another process changed it.");
  counter("nft_failures", c.nft_failures(), "nftables batches the kernel refused since the helper started.");
  counter("connections", c.connections(), "Client connections to the helper's socket since it started.");
  counter("connections_refused", c.connections_refused(), "Client connections refused (not allowed, or too many clients).");
  counter("bad_frames", c.bad_frames(), "Malformed frames received on the helper's socket.");
  family("start_time_seconds", "gauge", "Start time of the firewall helper since unix epoch in seconds.");
  fmt::format_to(std::back_inserter(out), "sms_bridge_firewall_helper_start_time_seconds {}\n", status.started_at().seconds());
  const auto& h = status.nft_batch_seconds();
  family("nft_batch_seconds", "histogram", "Time each batch handed to libnftables took (changes and listings).");
  for (int i = 0; i < h.upper_bounds_size() && i < h.counts_size(); ++i) {
    fmt::format_to(std::back_inserter(out), "sms_bridge_firewall_helper_nft_batch_seconds_bucket{{le=\"{}\"}} {}\n", h.upper_bounds(i),
                   h.counts(i));
  }
  fmt::format_to(std::back_inserter(out),
                 "sms_bridge_firewall_helper_nft_batch_seconds_bucket{{le=\"+Inf\"}} {}\n"
                 "sms_bridge_firewall_helper_nft_batch_seconds_sum {}\n"
                 "sms_bridge_firewall_helper_nft_batch_seconds_count {}\n",
                 h.count(), h.sum(), h.count());
  return out;
}

void metrics::onboarding(std::string_view status) { onboarding_->Add({{"status", std::string(status)}}).Increment(); }
void metrics::sms_received(std::string_view status) { sms_received_->Add({{"status", std::string(status)}}).Increment(); }
void metrics::pin_collected(std::string_view status) { pin_collected_->Add({{"status", std::string(status)}}).Increment(); }
void metrics::validation_failure(std::string_view check) { validation_failures_->Add({{"check", std::string(check)}}).Increment(); }
void metrics::rate_limited() { rate_limited_->Increment(); }
void metrics::set_sms_gauges(double outbox_pending, double active_codes, double blacklist_size) {
  outbox_pending_->Set(outbox_pending);
  active_codes_->Set(active_codes);
  blacklist_size_->Set(blacklist_size);
}

void metrics::notification_sent(std::string_view channel) { notifications_sent_->Add({{"channel", std::string(channel)}}).Increment(); }
void metrics::notification_failed(std::string_view channel) { notifications_failed_->Add({{"channel", std::string(channel)}}).Increment(); }
void metrics::set_notification_outbox_depth(double pending) { notification_outbox_depth_->Set(pending); }

void metrics::observe_request(std::string_view route, std::string_view method, unsigned status, double seconds) {
  auto it = routes_.find(route);
  if (it == routes_.end()) {
    const std::string r(route);
    auto& latency = latency_->Add({{"route", r}}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                                      0.05, 0.1, 0.25, 0.5, 1, 2.5});
    it = routes_.emplace(r, route_series{&latency, {}}).first;
  }
  auto& answered = it->second.answered;
  auto counter = std::find_if(answered.begin(), answered.end(),
                              [&](const auto& s) { return std::get<0>(s) == method && std::get<1>(s) == status; });
  if (counter == answered.end()) {
    auto& c = requests_->Add({{"route", it->first}, {"method", std::string(method)}, {"code", std::to_string(status)}});
    counter = answered.emplace(answered.end(), std::string(method), status, &c);
  }
  std::get<2>(*counter)->Increment();
  it->second.latency->Observe(seconds);
}

void metrics::door_event(std::string_view service, std::string_view kind) {
  door_events_->Add({{"service", std::string(service)}, {"reason", std::string(kind)}}).Increment();
}

void metrics::set_open_doors(const std::map<std::string, int>& per_service) {
  for (auto& [name, count] : known_services_) count = 0;
  for (const auto& [name, count] : per_service) known_services_[name] = count;
  for (const auto& [name, count] : known_services_) open_doors_->Add({{"service", name}}).Set(count);
}

void metrics::set_helper_up(bool up) { helper_up_->Set(up ? 1 : 0); }
void metrics::set_database_up(bool up) { database_up_->Set(up ? 1 : 0); }
void metrics::set_audit_backlog(double events) { audit_backlog_->Set(events); }

std::string metrics::render() {
  // Resident memory from /proc/self/statm (pages), CPU from getrusage.
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  if (statm >> pages_total >> pages_resident) {
    const long page = ::sysconf(_SC_PAGESIZE);
    resident_memory_->Set(static_cast<double>(pages_resident * page));
    virtual_memory_->Set(static_cast<double>(pages_total * page));
  }
  std::error_code ec;
  std::size_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    ++fds;
  }
  if (!ec) open_fds_->Set(static_cast<double>(fds > 0 ? fds - 1 : 0));  // not counting the directory's own descriptor
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) max_fds_->Set(static_cast<double>(files.rlim_cur));
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) == 0) {
    const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    if (cpu > cpu_seen_) cpu_seconds_->Increment(cpu - cpu_seen_);
    cpu_seen_ = std::max(cpu_seen_, cpu);
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace smsbridge::api
