// GET /admin/monitoring/export-prometheus-config: the laptop's Prometheus configuration, scraping
// this server through the doors of the settings file at the address laptops reach it by, and with
// ?servers=A,B the other servers of a deployment too (at the same door ports: they share settings).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api-daemon/monitoring_context.hpp"
#include "common/result.hpp"

namespace smsbridge::api {

// The servers a laptop's Prometheus scrapes: this one, then each address of `listed` (a
// comma-separated query value) once, at most max_scrape_servers in all; a sentence for a
// malformed list.
inline constexpr std::size_t max_scrape_servers = 16;
fallible<std::vector<std::string>> scrape_servers(const std::string& self, const std::optional<std::string>& listed);

// address:port, with an IPv6 address in brackets.
std::string scrape_target(const std::string& address, int port);

void add_prometheus_export_route(router& r, monitoring_context& m);

}  // namespace smsbridge::api
