// The /admin/monitoring endpoints: input checked here first (the helper checks again), helper
// refusals mapped to 4xx with the helper's sentence, infrastructure failures to bare 5xx.
#include <chrono>
#include <optional>

#include <boost/asio/ip/udp.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>
#include <google/protobuf/util/time_util.h>

#include "api-daemon/app.hpp"
#include "api-daemon/monitoring_settings.hpp"
#include "proto/net_types.hpp"

namespace smsbridge::api {

namespace {
namespace v1 = firewall::v1;
using google::protobuf::util::TimeUtil;
namespace json = boost::json;

std::string iso(const google::protobuf::Timestamp& t) { return TimeUtil::ToString(t); }

// The address a laptop should use: SMS_BRIDGE_SERVER_IP, or the source address the kernel would
// pick for an outside destination (a UDP "connect" sends nothing).
std::string server_address(const app& a) {
  if (a.config.server_ip != "auto") return a.config.server_ip;
  boost::asio::io_context io;
  boost::asio::ip::udp::socket s(io);
  boost::system::error_code ec;
  s.open(boost::asio::ip::udp::v4(), ec);
  if (!ec) s.connect({boost::asio::ip::make_address("192.0.2.1"), 9}, ec);
  if (!ec) {
    auto local = s.local_endpoint(ec);
    if (!ec) return local.address().to_string();
  }
  return "127.0.0.1";
}

// The seed's connection_info shapes; passwords are never included.
json::object connection_info(std::string_view service, std::uint16_t port, const std::string& ip) {
  const std::string hostport = fmt::format("{}:{}", ip, port);
  if (service == "metrics") {
    return {{"url", fmt::format("http://{}/metrics", hostport)},
            {"health", fmt::format("http://{}/health", hostport)},
            {"prometheus_target", hostport}};
  }
  if (service == "postgres" || service == "pgbouncer") {
    return {{"host", ip},
            {"port", port},
            {"database", "sms_bridge"},
            {"username", "postgres"},
            {"connection_string", fmt::format("postgresql://postgres:****@{}/sms_bridge", hostport)},
            {"note", "Get the password from the server's environment (POSTGRES_PASSWORD)."}};
  }
  if (service == "redis") {
    return {{"host", ip},
            {"port", port},
            {"connection_string", fmt::format("redis://:****@{}/0", hostport)},
            {"note", "Get the password from the server's environment."}};
  }
  return {};
}

// Maps a helper refusal to an HTTP answer. The helper's sentences are written for admins; only
// infrastructure failures get a generic sentence.
http_response refusal(const http_request& request, const v1::Error& e) {
  switch (e.code()) {
    case v1::UNKNOWN_SERVICE:
    case v1::NOT_OPEN:
      return error_response(request, http::status::not_found, e.message());
    case v1::PORT_FORBIDDEN:
    case v1::PORT_IN_USE:
    case v1::ALREADY_OPEN:
      return error_response(request, http::status::conflict, e.message());
    case v1::DURATION_OUT_OF_RANGE:
    case v1::SOURCE_NOT_ALLOWED:
    case v1::INVALID_ARGUMENT:
      return error_response(request, http::status::unprocessable_entity, e.message());
    case v1::RESOURCE_EXHAUSTED:
      return error_response(request, http::status::service_unavailable, e.message());
    default:
      return error_response(request, http::status::bad_gateway, "The firewall helper could not carry out the request.");
  }
}

http_response unreachable(const http_request& request) {
  return error_response(request, http::status::service_unavailable, "The firewall helper is not reachable.");
}

std::optional<json::object> parse_body(const http_request& request) {
  boost::system::error_code ec;
  json::value v = json::parse(request.body(), ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

// Looks up a door in the settings file; on failure answers 404 (unknown), 400 (disabled) or 500.
struct door_lookup {
  std::optional<monitoring_port> door;
  std::optional<http_response> error;
};
door_lookup find_door(const app& a, const http_request& request, std::string_view service) {
  auto ports = load_monitoring_ports(a.config.settings_file);
  if (!ports) {
    a.report(ports.error().message);
    return {std::nullopt, error_response(request, http::status::internal_server_error, "The settings file cannot be read.")};
  }
  auto it = ports->find(std::string(service));
  if (it == ports->end()) {
    return {std::nullopt, error_response(request, http::status::not_found, fmt::format("There is no monitoring service '{}'.", service))};
  }
  if (!it->second.enabled) {
    return {std::nullopt, error_response(request, http::status::bad_request, fmt::format("Monitoring service '{}' is disabled.", service))};
  }
  return {it->second, std::nullopt};
}

boost::asio::awaitable<std::optional<v1::Grant>> live_grant(app& a, const std::string& service) {
  v1::Request list;
  list.mutable_list();
  auto step = call_helper(a, list);
  auto r = co_await std::move(step);
  if (!r || r->has_error()) co_return std::nullopt;
  for (const auto& g : r->list().grants())
    if (g.service() == service) co_return g;
  co_return std::nullopt;
}

json::object describe_grant(const v1::Grant& g, const std::string& ip) {
  return {{"service", g.service()},       {"port", g.external_port()}, {"source", g.source()},
          {"opened_at", iso(g.opened_at())}, {"expires_at", iso(g.expires_at())}, {"opened_by", g.opened_by()},
          {"connection_info", connection_info(g.service(), static_cast<std::uint16_t>(g.external_port()), ip)}};
}

// ---- endpoints ---------------------------------------------------------------------------

boost::asio::awaitable<http_response> open_port(app& a, const http_request& request, const request_context& context,
                                                const std::string& admin) {
  auto body = parse_body(request);
  if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
  const auto* service = body->if_contains("service");
  if (!service || !service->is_string() || service->as_string().empty() || service->as_string().size() > 32) {
    co_return error_response(request, http::status::unprocessable_entity, "'service' must be a service name.");
  }
  const std::string name(service->as_string());
  std::int64_t seconds = 60 * 60;
  const std::int64_t min_s = a.config.port_min_duration_seconds, max_s = a.config.port_max_duration_seconds;
  if (const auto* minutes = body->if_contains("duration_minutes")) {
    if (!minutes->is_int64() || minutes->as_int64() * 60 < min_s || minutes->as_int64() * 60 > max_s) {
      co_return error_response(request, http::status::unprocessable_entity,
                               fmt::format("'duration_minutes' must be a whole number from {} to {}.", (min_s + 59) / 60, max_s / 60));
    }
    seconds = minutes->as_int64() * 60;
  } else if (const auto* secs = body->if_contains("duration_seconds")) {
    if (!secs->is_int64() || secs->as_int64() < min_s || secs->as_int64() > max_s) {
      co_return error_response(request, http::status::unprocessable_entity,
                               fmt::format("'duration_seconds' must be a whole number from {} to {}.", min_s, max_s));
    }
    seconds = secs->as_int64();
  }
  std::string source = client_address(a, request, context);
  if (const auto* s = body->if_contains("source")) {
    if (!s->is_string()) co_return error_response(request, http::status::unprocessable_entity, "'source' must be a CIDR.");
    source = std::string(s->as_string());
  }
  auto cidr = firewall::parse_cidr(source);
  if (!cidr) co_return error_response(request, http::status::unprocessable_entity, cidr.error().message);
  auto door = find_door(a, request, name);
  if (door.error) co_return std::move(*door.error);

  v1::Request open;
  auto* o = open.mutable_open();
  o->set_service(name);
  o->set_external_port(door.door->port);
  o->set_source(cidr->to_string());
  o->set_duration_seconds(static_cast<std::uint32_t>(seconds));
  o->set_actor(admin);
  auto step = call_helper(a, open);
  auto answer = co_await std::move(step);
  if (!answer) co_return unreachable(request);
  const std::string ip = server_address(a);
  if (answer->has_error()) {
    if (answer->error().code() == v1::ALREADY_OPEN) {
      auto current_step = live_grant(a, name);
      auto current = co_await std::move(current_step);
      json::object out{{"status", "already_open"}, {"service", name}, {"port", door.door->port}};
      if (current) {
        auto d = describe_grant(*current, ip);
        for (auto& [k, v] : d) out[k] = v;
        out["status"] = "already_open";
      }
      co_return json_response(request, http::status::ok, out);
    }
    co_return refusal(request, answer->error());
  }
  auto drain = drain_audit(a);
  co_await std::move(drain);
  json::object out = describe_grant(answer->open().grant(), ip);
  out["status"] = "opened";
  co_return json_response(request, http::status::ok, out);
}

boost::asio::awaitable<http_response> close_port(app& a, const http_request& request, const request_context&,
                                                 const std::string& admin) {
  auto body = parse_body(request);
  if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
  const auto* service = body->if_contains("service");
  if (!service || !service->is_string() || service->as_string().empty() || service->as_string().size() > 32) {
    co_return error_response(request, http::status::unprocessable_entity, "'service' must be a service name.");
  }
  std::string reason = "closed through the admin API";
  if (const auto* r = body->if_contains("reason")) {
    if (!r->is_string() || r->as_string().size() > 200) {
      co_return error_response(request, http::status::unprocessable_entity, "'reason' must be a string of at most 200 characters.");
    }
    reason = std::string(r->as_string());
  }
  v1::Request close;
  close.mutable_close()->set_service(std::string(service->as_string()));
  close.mutable_close()->set_actor(admin);
  close.mutable_close()->set_reason(reason);
  auto step = call_helper(a, close);
  auto answer = co_await std::move(step);
  if (!answer) co_return unreachable(request);
  if (answer->has_error()) co_return refusal(request, answer->error());
  auto drain = drain_audit(a);
  co_await std::move(drain);
  co_return json_response(request, http::status::ok,
                          json::object{{"status", "closed"},
                                       {"service", answer->close().grant().service()},
                                       {"port", answer->close().grant().external_port()}});
}

boost::asio::awaitable<http_response> port_status(app& a, const http_request& request, const request_context&,
                                                  const std::string&) {
  v1::Request list;
  list.mutable_list();
  auto step = call_helper(a, list);
  auto answer = co_await std::move(step);
  if (!answer) co_return unreachable(request);
  if (answer->has_error()) co_return refusal(request, answer->error());
  const std::string ip = server_address(a);
  const auto now = TimeUtil::TimestampToMilliseconds(answer->list().now());
  json::object ports;
  for (const auto& g : answer->list().grants()) {
    auto d = describe_grant(g, ip);
    d.erase("service");
    d["time_remaining_seconds"] = std::max<std::int64_t>(0, (TimeUtil::TimestampToMilliseconds(g.expires_at()) - now) / 1000);
    ports[g.service()] = std::move(d);
  }
  co_return json_response(request, http::status::ok, json::object{{"open_ports", std::move(ports)}});
}

boost::asio::awaitable<http_response> services(app& a, const http_request& request, const request_context&,
                                               const std::string&) {
  auto ports = load_monitoring_ports(a.config.settings_file);
  if (!ports) {
    a.report(ports.error().message);
    co_return error_response(request, http::status::internal_server_error, "The settings file cannot be read.");
  }
  v1::Request list;
  list.mutable_list();
  auto step = call_helper(a, list);
  auto answer = co_await std::move(step);
  const bool helper_up = answer && !answer->has_error();
  json::array out;
  for (const auto& [name, door] : *ports) {
    json::object s{{"service", name}, {"port", door.port}, {"enabled", door.enabled}, {"description", door.description},
                   {"status", helper_up ? "closed" : "unknown"}};
    if (helper_up) {
      for (const auto& g : answer->list().grants()) {
        if (g.service() != name) continue;
        s["status"] = "open";
        s["expires_at"] = iso(g.expires_at());
        s["source"] = g.source();
        s["opened_by"] = g.opened_by();
      }
    }
    out.push_back(std::move(s));
  }
  co_return json_response(request, http::status::ok, json::object{{"services", std::move(out)}, {"firewall_helper", helper_up ? "up" : "down"}});
}

boost::asio::awaitable<http_response> history(app& a, const http_request& request, const request_context&,
                                              const std::string&) {
  // ?limit=N (1..1000, default 50) & service=NAME
  const std::string_view target(request.target().data(), request.target().size());
  const auto q = target.find('?');
  std::int64_t limit = 50;
  std::optional<std::string> service;
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      const auto eq = pair.find('=');
      const std::string_view key = pair.substr(0, eq), value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
      if (key == "limit") {
        try {
          limit = std::stoll(std::string(value));
        } catch (const std::exception&) {
          limit = 0;
        }
        if (limit < 1 || limit > 1000) co_return error_response(request, http::status::unprocessable_entity, "'limit' must be from 1 to 1000.");
      } else if (key == "service") {
        if (value.empty() || value.size() > 32) co_return error_response(request, http::status::unprocessable_entity, "'service' must be a service name.");
        service = std::string(value);
      }
    }
  }
  auto query = [limit, service](pg::connection& c) {
    return c.exec("SELECT json_agg(h) FROM (SELECT service, external_port AS port, status, opened_by, opened_at, expires_at, "
                  "closed_at, closed_by, close_reason, requested_duration_minutes, actual_duration_minutes, source "
                  "FROM monitoring_port_access_history WHERE $2::text IS NULL OR service = $2 "
                  "ORDER BY opened_at DESC LIMIT $1) h",
                  {std::to_string(limit), service});
  };
  auto step = a.db.call(std::move(query));
  auto rows = co_await std::move(step);
  if (!rows) {
    a.report(fmt::format("history: {}", rows.error().message));
    co_return error_response(request, http::status::service_unavailable, "The audit trail cannot be read right now.");
  }
  boost::system::error_code ec;
  const auto cell = rows->get(0, 0);
  json::value entries = cell ? json::parse(*cell, ec) : json::array{};
  if (ec || entries.is_null()) entries = json::array{};
  co_return json_response(request, http::status::ok, json::object{{"history", std::move(entries)}});
}

handler admin(app& a, boost::asio::awaitable<http_response> (*fn)(app&, const http_request&, const request_context&,
                                                                   const std::string&)) {
  return require_admin(a, [&a, fn](const http_request& r, const request_context& c, const std::string& who) {
    return fn(a, r, c, who);
  });
}
}  // namespace

void add_monitoring_routes(router& r, app& a) {
  r.add(http::verb::get, "/admin/monitoring/services", admin(a, services));
  r.add(http::verb::post, "/admin/monitoring/open-port", admin(a, open_port));
  r.add(http::verb::post, "/admin/monitoring/close-port", admin(a, close_port));
  r.add(http::verb::get, "/admin/monitoring/port-status", admin(a, port_status));
  r.add(http::verb::get, "/admin/monitoring/history", admin(a, history));
}

}  // namespace smsbridge::api
