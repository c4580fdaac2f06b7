#include "api-daemon/prometheus_export.hpp"

#include <algorithm>

#include <boost/asio/ip/address.hpp>
#include <fmt/format.h>

namespace smsbridge::api {

fallible<std::vector<std::string>> scrape_servers(const std::string& self, const std::optional<std::string>& listed) {
  std::vector<std::string> servers{self};
  if (!listed) return servers;
  std::string_view rest = *listed;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view one = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (one.empty()) continue;
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(one, ec);
    if (ec) return fail(fmt::format("'servers' lists IP addresses separated by commas; '{}' is not one.", one));
    const std::string name = address.to_string();  // one spelling per address, so each is listed once
    if (std::find(servers.begin(), servers.end(), name) == servers.end()) servers.push_back(name);
    if (servers.size() > max_scrape_servers) return fail(fmt::format("'servers' lists at most {} servers.", max_scrape_servers));
  }
  return servers;
}

std::string scrape_target(const std::string& address, int port) {
  return address.find(':') == std::string::npos ? fmt::format("{}:{}", address, port) : fmt::format("[{}]:{}", address, port);
}

namespace {
boost::asio::awaitable<http_response> export_prometheus_config(monitoring_context& m, const http_request& request, const request_context&,
                                                               const std::string&) {
  auto ports = read_ports(m);
  if (!ports) co_return settings_unreadable(request);
  auto address_step = m.address.get();
  const std::string ip = co_await std::move(address_step);
  std::optional<std::string> listed;
  if (auto raw = query_parameter(request.target(), "servers")) {
    listed = form_decode(*raw);
    if (!listed) co_return error_response(request, http::status::unprocessable_entity, "'servers' is not a valid query value.");
  }
  const auto servers = scrape_servers(ip, listed);
  if (!servers) co_return error_response(request, http::status::unprocessable_entity, servers.error().message);
  std::string yaml = fmt::format(
      "# Prometheus configuration for the SMS Bridge laptop stack.\n"
      "# Scrapes {0} through the monitoring doors: open them first (open-port or open-all).\n"
      "global:\n"
      "  scrape_interval: 15s\n"
      "  evaluation_interval: 15s\n"
      "  external_labels:\n"
      "    monitor: sms-bridge\n"
      "# The server's history of the closed-door time is pushed in by remote write with old\n"
      "# timestamps (scripts/backfill-history.py); this window matches the default retention (7d).\n"
      "storage:\n"
      "  tsdb:\n"
      "    out_of_order_time_window: 7d\n"
      "# The laptop stack's alert rules (laptop-monitoring/prometheus/alerts.yml), if present.\n"
      "rule_files:\n"
      "  - alerts/*.yml\n"
      "scrape_configs:\n"
      "  - job_name: prometheus\n"
      "    static_configs:\n"
      "      - targets: ['localhost:9090']\n",
      ip);
  if (auto metrics = ports->find("metrics"); metrics != ports->end() && metrics->second.enabled) {
    yaml +=
        "  - job_name: sms_bridge\n"
        "    metrics_path: /metrics\n"
        "    scrape_interval: 15s\n"
        "    scrape_timeout: 10s\n"
        "    static_configs:\n";
    // This server first: the history backfill takes the job's first target for the one it fetches.
    for (const auto& server : *servers) {
      yaml += fmt::format(
          "      - targets: ['{}']\n"
          "        labels:\n"
          "          door: metrics\n"
          "          server: '{}'\n",
          scrape_target(server, metrics->second.port), server);
    }
  }
  if (auto p = ports->find("postgres"); p != ports->end() && p->second.enabled) {
    // postgres_exporter runs on the laptop and connects to PostgreSQL through the postgres door.
    yaml += fmt::format(
        "  - job_name: postgres_exporter\n"
        "    scrape_interval: 30s\n"
        "    scrape_timeout: 10s\n"
        "    static_configs:\n"
        "      - targets: ['localhost:9187']\n"
        "        labels:\n"
        "          door: postgres\n"
        "          server: '{}'\n",
        scrape_target(ip, p->second.port));
  }
  http_response r{http::status::ok, request.version()};
  r.set(http::field::content_type, "application/yaml");
  r.set(http::field::content_disposition, "attachment; filename=\"prometheus-remote.yml\"");
  r.keep_alive(request.keep_alive());
  r.body() = std::move(yaml);
  r.prepare_payload();
  co_return r;
}

}  // namespace

void add_prometheus_export_route(router& r, monitoring_context& m) {
  r.add(http::verb::get, "/admin/monitoring/export-prometheus-config", monitoring_endpoint(m, export_prometheus_config));
}

}  // namespace smsbridge::api
