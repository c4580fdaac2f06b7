#include "api-daemon/port_config.hpp"

#include <algorithm>
#include <map>

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "api-daemon/bounded_numbers.hpp"
#include "common/log.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;

json::object ports_json(const monitoring_ports& ports) {
  json::object out;
  for (const auto& [name, door] : ports) {
    out[name] = json::object{{"port", door.port}, {"enabled", door.enabled}, {"description", door.description}, {"service", name}};
  }
  return out;
}

boost::asio::awaitable<http_response> get_port_config(monitoring_context& m, const http_request& request, const request_context&,
                                                      const std::string&) {
  auto ports = read_ports(m);
  if (!ports) co_return settings_unreadable(request);
  auto listing = m.helper.list("");
  const auto list = co_await std::move(listing);
  json::array open;  // with the helper down nothing is known to be open
  if (list) {
    for (const auto& g : list->grants()) open.push_back(json::string(g.service()));
  }
  auto config = ports_json(*ports);
  co_return json_response(request, http::status::ok,
                          json::object{{"current_config", config}, {"active_ports", std::move(open)}, {"version", SMS_BRIDGE_VERSION},
                                       {"timestamp", now_iso()}, {"config", config}, {"firewall_helper", list ? "up" : "down"}});
}

// A 422 about one door's port: "field" names it ("metrics.port") so a form can show the sentence
// next to that input.
http_response port_error(const http_request& request, const std::string& service, const std::string& sentence) {
  return json_response(request, http::status::unprocessable_entity, json::object{{"detail", sentence}, {"field", service + ".port"}});
}

// Validates a new monitoring_ports section against the rules and the helper, then writes it.
// While any door is open the configuration cannot change (409, listing the open doors).
// `done` is the answer's status: the original's "success" for a change, "reset" for a reset.
boost::asio::awaitable<http_response> store_port_config(monitoring_context& m, const http_request& request, monitoring_ports wanted,
                                                        std::string done) {
  auto listing = m.helper.list("");
  const auto open = co_await std::move(listing);
  if (!open) co_return refused(request, open.error());
  if (open->grants_size() > 0) {
    json::array doors;
    for (const auto& g : open->grants()) doors.push_back(json::object{{"service", g.service()}, {"port", g.external_port()}});
    co_return json_response(request, http::status::conflict,
                            json::object{{"detail", "Close every monitoring door before changing the port configuration."},
                                         {"open_ports", std::move(doors)}});
  }
  auto asking = m.helper.status();
  const auto status = co_await std::move(asking);
  if (!status) co_return refused(request, status.error());
  const auto& known = status->services();
  std::map<std::uint32_t, std::string> seen;
  std::vector<std::uint32_t> ports;
  for (const auto& [name, door] : wanted) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      co_return port_error(request, name, fmt::format("The firewall helper has no service named '{}'.", name));
    }
    if (door.port < 1024) co_return port_error(request, name, fmt::format("Port {} of '{}' is below 1024.", door.port, name));
    if (auto [it, fresh] = seen.emplace(door.port, name); !fresh) {
      co_return port_error(request, name, fmt::format("Port {} is given to both '{}' and '{}'.", door.port, it->second, name));
    }
    ports.push_back(door.port);
  }
  if (!ports.empty()) {
    auto checking = m.helper.check_ports(ports);
    const auto checked = co_await std::move(checking);
    if (!checked) co_return refused(request, checked.error());
    for (const auto& p : checked->ports()) {
      if (!p.free()) {
        const auto owner = seen.find(p.port());
        co_return port_error(request, owner == seen.end() ? std::string() : owner->second,
                             fmt::format("Port {} cannot be used: {}.", p.port(), p.reason()));
      }
    }
  }
  if (auto written = m.settings.write_ports(wanted); !written) {
    log::error("{}", written.error().message);
    co_return error_response(request, http::status::internal_server_error, "The settings file cannot be written.");
  }
  co_return json_response(request, http::status::ok,
                          json::object{{"status", std::move(done)}, {"config", ports_json(wanted)}, {"timestamp", now_iso()}});
}

boost::asio::awaitable<http_response> post_port_config(monitoring_context& m, const http_request& request, const request_context&,
                                                       const std::string& admin) {
  auto body = json_object_body(request);
  if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
  const auto* config = body->if_contains("config");
  if (!config || !config->is_object() || config->as_object().empty() || config->as_object().size() > 32) {
    co_return error_response(request, http::status::unprocessable_entity, "'config' must map 1 to 32 services to {port, enabled, description}.");
  }
  auto parsed = parse_monitoring_ports(json::serialize(json::object{{"settings", json::object{{"monitoring_ports", *config}}}}));
  if (!parsed) co_return error_response(request, http::status::unprocessable_entity, parsed.error().message);
  auto storing = store_port_config(m, request, std::move(*parsed), "success");
  auto answer = co_await std::move(storing);
  if (answer.result() == http::status::ok) log::notice("the port configuration was changed by {}", admin);
  co_return answer;
}

boost::asio::awaitable<http_response> reset_port_config(monitoring_context& m, const http_request& request, const request_context&,
                                                        const std::string& admin) {
  // The seed's defaults, limited to the services the helper knows.
  auto asking = m.helper.status();
  const auto status = co_await std::move(asking);
  if (!status) co_return refused(request, status.error());
  monitoring_ports defaults;
  for (auto& [name, door] : default_monitoring_ports()) {
    const auto& known = status->services();
    if (std::find(known.begin(), known.end(), name) != known.end()) defaults.emplace(name, door);
  }
  auto storing = store_port_config(m, request, std::move(defaults), "reset");
  auto answer = co_await std::move(storing);
  if (answer.result() == http::status::ok) log::notice("the port configuration was reset by {}", admin);
  co_return answer;
}

boost::asio::awaitable<http_response> available_ports(monitoring_context& m, const http_request& request, const request_context&,
                                                      const std::string&) {
  const std::string_view target(request.target().data(), request.target().size());
  const auto number = [&](const char* key, std::int64_t fallback) {
    auto v = query_parameter(target, key);
    return v ? whole_number(*v) : std::optional<std::int64_t>(fallback);
  };
  const auto start = number("start", 9000), end = number("end", 9999), count = number("count", 10);
  if (!start || !end || !count || *start < 1024 || *end > 65535 || *start > *end || *count < 1 || *count > 100) {
    co_return error_response(request, http::status::unprocessable_entity, "Give 1024 <= start <= end <= 65535 and a count from 1 to 100.");
  }
  auto scanning = m.helper.scan_ports(static_cast<std::uint32_t>(*start), static_cast<std::uint32_t>(*end), static_cast<std::uint32_t>(*count));
  const auto scanned = co_await std::move(scanning);
  if (!scanned) co_return refused(request, scanned.error());
  json::array free_ports;
  for (const auto& p : scanned->ports()) free_ports.push_back(p.port());
  // count: how many were found (at most the count asked for), as the original's len(ports).
  const auto found = free_ports.size();
  co_return json_response(request, http::status::ok,
                          json::object{{"available_ports", std::move(free_ports)}, {"scanned_range", fmt::format("{}-{}", *start, *end)},
                                       {"count", found}, {"start", *start}, {"end", *end}});
}
}  // namespace

void add_port_config_routes(router& r, monitoring_context& m) {
  r.add(http::verb::get, "/admin/monitoring/port-config", monitoring_endpoint(m, get_port_config));
  r.add(http::verb::post, "/admin/monitoring/port-config", monitoring_endpoint(m, post_port_config));
  r.add(http::verb::post, "/admin/monitoring/port-config/reset", monitoring_endpoint(m, reset_port_config));
  r.add(http::verb::get, "/admin/monitoring/port-config/available-ports", monitoring_endpoint(m, available_ports));
}

}  // namespace smsbridge::api
