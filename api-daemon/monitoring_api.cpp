// The /admin/monitoring endpoints: input checked here first (the helper checks again), helper
// refusals mapped to 4xx with the helper's sentence, infrastructure failures to bare 5xx.
#include <algorithm>
#include <charconv>
#include <map>
#include <chrono>
#include <functional>
#include <optional>

#include <boost/asio/ip/udp.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>
#include <google/protobuf/util/time_util.h>

#include "api-daemon/app.hpp"
#include "api-daemon/bounded_numbers.hpp"
#include "api-daemon/log_files.hpp"
#include "api-daemon/monitoring_shapes.hpp"
#include "api-daemon/monitoring_settings.hpp"
#include "api-daemon/settings_file.hpp"
#include "proto/net_types.hpp"

namespace smsbridge::api {

namespace {
namespace v1 = firewall::v1;
using google::protobuf::util::TimeUtil;
namespace json = boost::json;

// Every timestamp is ISO 8601 in UTC with a Z (the original wrote naive local time).
std::string iso(const google::protobuf::Timestamp& t) { return TimeUtil::ToString(t); }
std::string now_iso() { return iso(TimeUtil::GetCurrentTime()); }

std::optional<std::int64_t> whole_number(std::string_view text) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// The address this daemon's own kernel would use for an outside destination (a UDP "connect"
// sends nothing): right when it shares the host's network namespace, a container's otherwise.
std::string own_outside_address() {
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

// The address a laptop should use: SMS_BRIDGE_SERVER_IP; else the address of the default route
// of the helper's host, which the helper reports (it lives in the host's network namespace even
// when this daemon runs in a container, where our own address would be the container's); else
// our own. The helper's answer is kept for a minute.
boost::asio::awaitable<std::string> server_address(app& a) {
  if (a.config.server_ip != "auto") co_return a.config.server_ip;
  const auto now = std::chrono::steady_clock::now();
  if (!a.host_address.address.empty() && now - a.host_address.asked_at < std::chrono::minutes(1)) {
    co_return a.host_address.address;
  }
  v1::Request status;
  status.mutable_status();
  auto step = call_helper(a, status);
  auto answer = co_await std::move(step);
  if (answer && !answer->has_error() && !answer->status().host_address().empty()) {
    a.host_address = {answer->status().host_address(), now};
    co_return a.host_address.address;
  }
  co_return own_outside_address();
}

// The seed's connection_info shapes; passwords are never included.
json::object connection_info(const app& a, std::string_view service, std::uint16_t port, const std::string& ip) {
  const std::string hostport = fmt::format("{}:{}", ip, port);
  if (service == "metrics") {
    return {{"url", fmt::format("http://{}/metrics", hostport)},
            {"health", fmt::format("http://{}/health", hostport)},
            {"prometheus_target", hostport}};
  }
  if (service == "postgres" || service == "pgbouncer") {
    // The login sms-bridge-api itself uses: the stack's real role, not the seed's "postgres".
    const pg::login login = pg::login_of(a.config.database_url);
    return {{"host", ip},
            {"port", port},
            {"database", login.database},
            {"username", login.user},
            {"connection_string", fmt::format("postgresql://{}:****@{}/{}", login.user, hostport, login.database)},
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
    case v1::STATE_WRITE_FAILED:  // e.g. its disk is full: nothing changed, try again later
      return error_response(request, http::status::service_unavailable, e.message());
    default:
      return error_response(request, http::status::bad_gateway, "The firewall helper could not carry out the request.");
  }
}

http_response unreachable(const http_request& request) {
  return error_response(request, http::status::service_unavailable, "The firewall helper is not reachable.");
}

// The doors of the settings file; nullopt (and a log line) when it cannot be read.
std::optional<monitoring_ports> read_ports(const app& a) {
  auto ports = load_monitoring_ports(a.config.settings_file);
  if (!ports) {
    a.report(ports.error().message);
    return std::nullopt;
  }
  return std::move(*ports);
}

http_response settings_unreadable(const http_request& request) {
  return error_response(request, http::status::internal_server_error, "The settings file cannot be read.");
}

// The "service" of a body: a name of 1 to 32 characters.
std::optional<std::string> service_field(const json::object& body) {
  const auto* service = body.if_contains("service");
  if (!service || !service->is_string() || service->as_string().empty() || service->as_string().size() > 32) return std::nullopt;
  return std::string(service->as_string());
}

// Looks up a door in the settings file; on failure answers 404 (unknown), 400 (disabled) or 500.
struct door_lookup {
  std::optional<monitoring_port> door;
  std::optional<http_response> error;
};
door_lookup find_door(const app& a, const http_request& request, std::string_view service) {
  auto ports = read_ports(a);
  if (!ports) return {std::nullopt, settings_unreadable(request)};
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

json::object describe_grant(const app& a, const v1::Grant& g, const std::string& ip) {
  return {{"service", g.service()},       {"port", g.external_port()}, {"source", g.source()},
          {"opened_at", iso(g.opened_at())}, {"expires_at", iso(g.expires_at())}, {"opened_by", g.opened_by()},
          {"connection_info", connection_info(a, g.service(), static_cast<std::uint16_t>(g.external_port()), ip)}};
}

// ---- endpoints ---------------------------------------------------------------------------

// A duration from duration_minutes or duration_seconds (JSON numbers, or query strings for
// open-all), checked against SMS_BRIDGE_PORT_{MIN,MAX}_DURATION_SECONDS. Default: one hour.
struct duration_result {
  std::int64_t seconds = 60 * 60;
  std::optional<std::string> error;  // a 422 sentence
};
duration_result read_duration(const app& a, const json::object* body, std::string_view target) {
  const std::int64_t min_s = a.config.port_min_duration_seconds, max_s = a.config.port_max_duration_seconds;
  duration_result out;
  const auto field = [&](const char* key) -> std::optional<std::optional<std::int64_t>> {
    if (body) {
      if (const auto* v = body->if_contains(key)) return v->is_int64() ? std::optional<std::int64_t>(v->as_int64()) : std::nullopt;
    }
    if (auto q = query_parameter(target, key)) return whole_number(*q);
    return std::nullopt;  // absent
  };
  if (auto minutes = field("duration_minutes")) {
    const auto seconds = *minutes ? minutes_within(**minutes, min_s, max_s) : std::nullopt;
    if (!seconds) {
      out.error = fmt::format("'duration_minutes' must be a whole number from {} to {}.", (min_s + 59) / 60, max_s / 60);
    } else {
      out.seconds = *seconds;
    }
  } else if (auto seconds = field("duration_seconds")) {
    if (!*seconds || **seconds < min_s || **seconds > max_s) {
      out.error = fmt::format("'duration_seconds' must be a whole number from {} to {}.", min_s, max_s);
    } else {
      out.seconds = **seconds;
    }
  }
  return out;
}

struct open_outcome {
  http::status status = http::status::ok;
  json::object body;
};

// Opens one door and describes the result, as open-port and open-all report it.
// Parameters by value: a coroutine outlives the full-expression that starts it, so a reference
// parameter bound to a temporary (cidr->to_string()) dangles by the time the body runs (found by
// ASan as a stack-buffer-overflow in set_source).
boost::asio::awaitable<open_outcome> open_door(app& a, std::string name, monitoring_port door, std::int64_t seconds,
                                               std::string source, std::string admin) {
  v1::Request open;
  auto* o = open.mutable_open();
  o->set_service(name);
  o->set_external_port(door.port);
  o->set_source(source);
  o->set_duration_seconds(static_cast<std::uint32_t>(seconds));
  o->set_actor(admin);
  auto step = call_helper(a, open);
  auto answer = co_await std::move(step);
  if (!answer) co_return open_outcome{http::status::service_unavailable, {{"detail", "The firewall helper is not reachable."}}};
  auto address_step = server_address(a);
  const std::string ip = co_await std::move(address_step);
  if (answer->has_error()) {
    if (answer->error().code() == v1::ALREADY_OPEN) {
      auto current_step = live_grant(a, name);
      auto current = co_await std::move(current_step);
      json::object out{{"service", name}, {"port", door.port}};
      if (current) out = describe_grant(a, *current, ip);
      out["status"] = "already_open";
      out["message"] = "Port is already open";
      co_return open_outcome{http::status::ok, std::move(out)};
    }
    http_request stub;
    const auto mapped = refusal(stub, answer->error());
    boost::system::error_code ec;
    auto detail = json::parse(mapped.body(), ec);
    co_return open_outcome{mapped.result(), ec ? json::object{{"detail", "The firewall helper refused."}} : std::move(detail.as_object())};
  }
  json::object out = describe_grant(a, answer->open().grant(), ip);
  out["status"] = "opened";
  co_return open_outcome{http::status::ok, std::move(out)};
}

boost::asio::awaitable<http_response> open_port(app& a, const http_request& request, const request_context& context,
                                                const std::string& admin) {
  auto body = json_object_body(request);
  if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
  const auto name = service_field(*body);
  if (!name) co_return error_response(request, http::status::unprocessable_entity, "'service' must be a service name.");
  const auto duration = read_duration(a, &*body, "");
  if (duration.error) co_return error_response(request, http::status::unprocessable_entity, *duration.error);
  std::string source = client_address(a, request, context);
  if (const auto* s = body->if_contains("source")) {
    if (!s->is_string()) co_return error_response(request, http::status::unprocessable_entity, "'source' must be a CIDR.");
    source = std::string(s->as_string());
  }
  auto cidr = firewall::parse_cidr(source);
  if (!cidr) co_return error_response(request, http::status::unprocessable_entity, cidr.error().message);
  auto door = find_door(a, request, *name);
  if (door.error) co_return std::move(*door.error);
  auto step = open_door(a, *name, *door.door, duration.seconds, cidr->to_string(), admin);
  auto outcome = co_await std::move(step);
  auto drain = drain_audit(a);
  co_await std::move(drain);
  co_return json_response(request, outcome.status, outcome.body);
}

boost::asio::awaitable<http_response> open_all(app& a, const http_request& request, const request_context& context,
                                               const std::string& admin) {
  std::optional<json::object> body;
  if (!request.body().empty()) {
    body = json_object_body(request);
    if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
  }
  const std::string_view target(request.target().data(), request.target().size());
  const auto duration = read_duration(a, body ? &*body : nullptr, target);
  if (duration.error) co_return error_response(request, http::status::unprocessable_entity, *duration.error);
  auto cidr = firewall::parse_cidr(client_address(a, request, context));
  if (!cidr) co_return error_response(request, http::status::unprocessable_entity, cidr.error().message);
  auto ports = read_ports(a);
  if (!ports) co_return settings_unreadable(request);
  json::object results;
  for (const auto& [name, door] : *ports) {
    if (!door.enabled) continue;
    auto step = open_door(a, name, door, duration.seconds, cidr->to_string(), admin);
    auto outcome = co_await std::move(step);
    if (outcome.status != http::status::ok) {
      // The original's {error: sentence} for a door that did not open.
      const auto* detail = outcome.body.if_contains("detail");
      outcome.body = {{"status", "error"}, {"error", detail && detail->is_string() ? detail->as_string() : "The door did not open."}};
    }
    results[name] = std::move(outcome.body);
  }
  auto drain = drain_audit(a);
  co_await std::move(drain);
  co_return json_response(request, http::status::ok,
                          json::object{{"status", "completed"}, {"results", std::move(results)}, {"timestamp", now_iso()}});
}

boost::asio::awaitable<http_response> close_all(app& a, const http_request& request, const request_context&,
                                                const std::string& admin) {
  v1::Request close;
  close.mutable_close_all()->set_actor(admin);
  close.mutable_close_all()->set_reason("closed through the admin API (close-all)");
  auto step = call_helper(a, close);
  auto answer = co_await std::move(step);
  if (!answer) co_return unreachable(request);
  if (answer->has_error()) co_return refusal(request, answer->error());
  // The helper closes every door in one batch or none, so errors is always null here: a refusal
  // of the batch is an HTTP error instead.
  json::object results;
  json::array closed;
  for (const auto& g : answer->close_all().closed()) {
    results[g.service()] = json::object{{"status", "closed"}, {"port", g.external_port()}};
    closed.push_back(json::string(g.service()));
  }
  auto drain = drain_audit(a);
  co_await std::move(drain);
  co_return json_response(request, http::status::ok,
                          json::object{{"status", "completed"}, {"closed", std::move(closed)}, {"errors", nullptr},
                                       {"timestamp", now_iso()}, {"results", std::move(results)},
                                       {"closed_count", answer->close_all().closed_count()}});
}

boost::asio::awaitable<http_response> close_port(app& a, const http_request& request, const request_context&,
                                                 const std::string& admin) {
  auto body = json_object_body(request);
  if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
  const auto service = service_field(*body);
  if (!service) co_return error_response(request, http::status::unprocessable_entity, "'service' must be a service name.");
  std::string reason = "closed through the admin API";
  if (const auto* r = body->if_contains("reason")) {
    if (!r->is_string() || r->as_string().size() > 200) {
      co_return error_response(request, http::status::unprocessable_entity, "'reason' must be a string of at most 200 characters.");
    }
    reason = std::string(r->as_string());
  }
  v1::Request close;
  close.mutable_close()->set_service(*service);
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

// The original's get_active_ports() map, {service: {port, opened_at, expires_at, opened_by,
// time_remaining: "H:MM:SS", connection_info}}, plus source and time_remaining_seconds. The
// helper closes expired doors itself, so nothing here has expired.
json::object active_ports(const app& a, const v1::ListResult& list, const std::string& ip) {
  const auto now = TimeUtil::TimestampToMilliseconds(list.now());
  json::object ports;
  for (const auto& g : list.grants()) {
    auto d = describe_grant(a, g, ip);
    d.erase("service");
    const std::int64_t remaining = std::max<std::int64_t>(0, (TimeUtil::TimestampToMilliseconds(g.expires_at()) - now) / 1000);
    d["time_remaining"] = time_remaining_text(remaining);
    d["time_remaining_seconds"] = remaining;
    ports[g.service()] = std::move(d);
  }
  return ports;
}

boost::asio::awaitable<http_response> port_status(app& a, const http_request& request, const request_context&,
                                                  const std::string&) {
  v1::Request list;
  list.mutable_list();
  auto step = call_helper(a, list);
  auto answer = co_await std::move(step);
  if (!answer) co_return unreachable(request);
  if (answer->has_error()) co_return refusal(request, answer->error());
  auto address_step = server_address(a);
  const std::string ip = co_await std::move(address_step);
  co_return json_response(request, http::status::ok, active_ports(a, answer->list(), ip));
}

boost::asio::awaitable<http_response> services(app& a, const http_request& request, const request_context&,
                                               const std::string&) {
  auto ports = read_ports(a);
  if (!ports) co_return settings_unreadable(request);
  v1::Request list;
  list.mutable_list();
  auto step = call_helper(a, list);
  auto answer = co_await std::move(step);
  const bool helper_up = answer && !answer->has_error();
  json::object out;
  for (const auto& [name, door] : *ports) {
    json::object s{{"port", door.port}, {"enabled", door.enabled}, {"description", door.description}, {"service", name},
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
    out[name] = std::move(s);
  }
  json::object open;  // with the helper down nothing is known to be open
  if (helper_up) {
    auto address_step = server_address(a);
    const std::string ip = co_await std::move(address_step);
    open = active_ports(a, answer->list(), ip);
  }
  co_return json_response(request, http::status::ok,
                          json::object{{"services", std::move(out)}, {"active_ports", std::move(open)},
                                       {"firewall_helper", helper_up ? "up" : "down"}, {"timestamp", now_iso()}});
}

// The common query filters of the audit endpoints: ?limit=N (1..1000) and ?service=NAME.
struct audit_filter {
  std::int64_t limit = 0;
  std::optional<std::string> service;
  std::optional<std::string> error;  // a 422 sentence
};
audit_filter read_audit_filter(std::string_view target, std::int64_t default_limit) {
  audit_filter f{default_limit, query_parameter(target, "service"), std::nullopt};
  if (auto l = query_parameter(target, "limit")) {
    auto n = whole_number(*l);
    if (!n || *n < 1 || *n > 1000) f.error = "'limit' must be from 1 to 1000.";
    else f.limit = *n;
  }
  if (f.service && (f.service->empty() || f.service->size() > 32)) f.error = "'service' must be a service name.";
  return f;
}

// Runs a "SELECT json_agg(...)" and answers {key: [...]} (an empty list when no row matched).
boost::asio::awaitable<http_response> json_list_answer(app& a, const http_request& request, std::string_view key,
                                                       std::function<pg::db_result<pg::rows>(pg::connection&)> query) {
  auto step = a.db.call(std::move(query));
  auto rows = co_await std::move(step);
  if (!rows) {
    a.report(fmt::format("{}: {}", key, rows.error().message));
    co_return error_response(request, http::status::service_unavailable, "The audit trail cannot be read right now.");
  }
  boost::system::error_code ec;
  const auto cell = rows->get(0, 0);
  json::value entries = cell ? json::parse(*cell, ec) : json::array{};
  if (ec || entries.is_null()) entries = json::array{};
  co_return json_response(request, http::status::ok, json::object{{key, std::move(entries)}});
}

boost::asio::awaitable<http_response> history(app& a, const http_request& request, const request_context&,
                                              const std::string&) {
  // ?limit=N (1..1000, default 50) & service=NAME: one entry per door, its open and its close.
  const auto filter = read_audit_filter(std::string_view(request.target().data(), request.target().size()), 50);
  if (filter.error) co_return error_response(request, http::status::unprocessable_entity, *filter.error);
  auto query = [f = filter](pg::connection& c) {
    return c.exec("SELECT json_agg(h) FROM (SELECT service, external_port AS port, status, opened_by, opened_at, expires_at, "
                  "closed_at, closed_by, close_reason, requested_duration_minutes, actual_duration_minutes, source "
                  "FROM monitoring_port_access_history WHERE $2::text IS NULL OR service = $2 "
                  "ORDER BY opened_at DESC LIMIT $1) h",
                  {std::to_string(f.limit), f.service});
  };
  auto answer = json_list_answer(a, request, "history", std::move(query));
  co_return co_await std::move(answer);
}

// GET /admin/monitoring/audit?service=NAME&action=opened|closed|expired&limit=N: one entry per
// recorded action (an open, a close, an expiry), newest first, with who did it.
boost::asio::awaitable<http_response> audit(app& a, const http_request& request, const request_context&,
                                            const std::string&) {
  const std::string_view target(request.target().data(), request.target().size());
  const auto filter = read_audit_filter(target, 100);
  if (filter.error) co_return error_response(request, http::status::unprocessable_entity, *filter.error);
  std::optional<std::string> action = query_parameter(target, "action");
  if (action && *action != "opened" && *action != "closed" && *action != "expired") {
    co_return error_response(request, http::status::unprocessable_entity, "'action' must be opened, closed or expired.");
  }
  auto query = [f = filter, action](pg::connection& c) {
    return c.exec("SELECT json_agg(e) FROM (SELECT COALESCE(closed_at, opened_at) AS at, service, external_port AS port, action, "
                  "CASE WHEN action = 'opened' THEN opened_by ELSE closed_by END AS by, source, close_reason AS reason "
                  "FROM monitoring_port_access WHERE ($2::text IS NULL OR service = $2) AND ($3::text IS NULL OR action = $3) "
                  "ORDER BY COALESCE(closed_at, opened_at) DESC, id DESC LIMIT $1) e",
                  {std::to_string(f.limit), f.service, action});
  };
  auto answer = json_list_answer(a, request, "events", std::move(query));
  co_return co_await std::move(answer);
}

json::object ports_json(const monitoring_ports& ports) {
  json::object out;
  for (const auto& [name, door] : ports) {
    out[name] = json::object{{"port", door.port}, {"enabled", door.enabled}, {"description", door.description}, {"service", name}};
  }
  return out;
}

boost::asio::awaitable<http_response> get_port_config(app& a, const http_request& request, const request_context&,
                                                      const std::string&) {
  auto ports = read_ports(a);
  if (!ports) co_return settings_unreadable(request);
  v1::Request list;
  list.mutable_list();
  auto step = call_helper(a, list);
  auto answer = co_await std::move(step);
  const bool helper_up = answer && !answer->has_error();
  json::array open;  // with the helper down nothing is known to be open
  if (helper_up) {
    for (const auto& g : answer->list().grants()) open.push_back(json::string(g.service()));
  }
  auto config = ports_json(*ports);
  co_return json_response(request, http::status::ok,
                          json::object{{"current_config", config}, {"active_ports", std::move(open)}, {"version", SMS_BRIDGE_VERSION},
                                       {"timestamp", now_iso()}, {"config", config}, {"firewall_helper", helper_up ? "up" : "down"}});
}

// A 422 about one door's port: "field" names it ("metrics.port") so a form can show the sentence
// next to that input.
http_response port_error(const http_request& request, const std::string& service, const std::string& sentence) {
  return json_response(request, http::status::unprocessable_entity,
                       json::object{{"detail", sentence}, {"field", service + ".port"}});
}

// Validates a new monitoring_ports section against the rules and the helper, then writes it.
// While any door is open the configuration cannot change (409, listing the open doors).
// `done` is the answer's status: the original's "success" for a change, "reset" for a reset.
boost::asio::awaitable<http_response> store_port_config(app& a, const http_request& request, const monitoring_ports& wanted,
                                                        std::string done) {
  v1::Request list;
  list.mutable_list();
  auto list_step = call_helper(a, list);
  auto open = co_await std::move(list_step);
  if (!open) co_return unreachable(request);
  if (open->has_error()) co_return refusal(request, open->error());
  if (open->list().grants_size() > 0) {
    json::array doors;
    for (const auto& g : open->list().grants()) doors.push_back(json::object{{"service", g.service()}, {"port", g.external_port()}});
    co_return json_response(request, http::status::conflict,
                            json::object{{"detail", "Close every monitoring door before changing the port configuration."},
                                         {"open_ports", std::move(doors)}});
  }
  v1::Request status;
  status.mutable_status();
  auto status_step = call_helper(a, status);
  auto helper = co_await std::move(status_step);
  if (!helper || helper->has_error()) co_return unreachable(request);
  const auto& known = helper->status().services();
  std::map<std::uint16_t, std::string> seen;
  v1::Request check;
  for (const auto& [name, door] : wanted) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      co_return port_error(request, name, fmt::format("The firewall helper has no service named '{}'.", name));
    }
    if (door.port < 1024) {
      co_return port_error(request, name, fmt::format("Port {} of '{}' is below 1024.", door.port, name));
    }
    if (auto [it, fresh] = seen.emplace(door.port, name); !fresh) {
      co_return port_error(request, name, fmt::format("Port {} is given to both '{}' and '{}'.", door.port, it->second, name));
    }
    check.mutable_check_ports()->add_ports(door.port);
  }
  if (check.check_ports().ports_size() > 0) {
    auto check_step = call_helper(a, check);
    auto checked = co_await std::move(check_step);
    if (!checked) co_return unreachable(request);
    if (checked->has_error()) co_return refusal(request, checked->error());
    for (const auto& p : checked->check_ports().ports()) {
      if (!p.free()) {
        const auto owner = seen.find(static_cast<std::uint16_t>(p.port()));
        co_return port_error(request, owner == seen.end() ? std::string() : owner->second,
                             fmt::format("Port {} cannot be used: {}.", p.port(), p.reason()));
      }
    }
  }
  if (auto r = write_settings_file(a.config.settings_file, wanted); !r) {
    a.report(r.error().message);
    co_return error_response(request, http::status::internal_server_error, "The settings file cannot be written.");
  }
  co_return json_response(request, http::status::ok,
                          json::object{{"status", std::move(done)}, {"config", ports_json(wanted)}, {"timestamp", now_iso()}});
}

boost::asio::awaitable<http_response> post_port_config(app& a, const http_request& request, const request_context&,
                                                       const std::string&) {
  auto body = json_object_body(request);
  if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
  const auto* config = body->if_contains("config");
  if (!config || !config->is_object() || config->as_object().empty() || config->as_object().size() > 32) {
    co_return error_response(request, http::status::unprocessable_entity, "'config' must map 1 to 32 services to {port, enabled, description}.");
  }
  auto parsed = parse_monitoring_ports(json::serialize(json::object{{"settings", json::object{{"monitoring_ports", *config}}}}));
  if (!parsed) co_return error_response(request, http::status::unprocessable_entity, parsed.error().message);
  auto step = store_port_config(a, request, *parsed, "success");
  co_return co_await std::move(step);
}

boost::asio::awaitable<http_response> reset_port_config(app& a, const http_request& request, const request_context&,
                                                        const std::string&) {
  // The seed's defaults, limited to the services the helper knows.
  v1::Request status;
  status.mutable_status();
  auto status_step = call_helper(a, status);
  auto helper = co_await std::move(status_step);
  if (!helper || helper->has_error()) co_return unreachable(request);
  monitoring_ports defaults;
  for (auto& [name, door] : default_monitoring_ports()) {
    const auto& known = helper->status().services();
    if (std::find(known.begin(), known.end(), name) != known.end()) defaults.emplace(name, door);
  }
  auto step = store_port_config(a, request, defaults, "reset");
  co_return co_await std::move(step);
}

boost::asio::awaitable<http_response> available_ports(app& a, const http_request& request, const request_context&,
                                                      const std::string&) {
  const std::string_view target(request.target().data(), request.target().size());
  auto number = [&](const char* key, std::int64_t fallback) {
    auto v = query_parameter(target, key);
    return v ? whole_number(*v) : std::optional<std::int64_t>(fallback);
  };
  const auto start = number("start", 9000), end = number("end", 9999), count = number("count", 10);
  if (!start || !end || !count || *start < 1024 || *end > 65535 || *start > *end || *count < 1 || *count > 100) {
    co_return error_response(request, http::status::unprocessable_entity,
                             "Give 1024 <= start <= end <= 65535 and a count from 1 to 100.");
  }
  v1::Request scan;
  scan.mutable_scan_ports()->set_start(static_cast<std::uint32_t>(*start));
  scan.mutable_scan_ports()->set_end(static_cast<std::uint32_t>(*end));
  scan.mutable_scan_ports()->set_count(static_cast<std::uint32_t>(*count));
  auto step = call_helper(a, scan);
  auto answer = co_await std::move(step);
  if (!answer) co_return unreachable(request);
  if (answer->has_error()) co_return refusal(request, answer->error());
  json::array free_ports;
  for (const auto& p : answer->scan_ports().ports()) free_ports.push_back(p.port());
  // count: how many were found (at most the count asked for), as the original's len(ports).
  const auto found = free_ports.size();
  co_return json_response(request, http::status::ok,
                          json::object{{"available_ports", std::move(free_ports)}, {"scanned_range", fmt::format("{}-{}", *start, *end)},
                                       {"count", found}, {"start", *start}, {"end", *end}});
}

boost::asio::awaitable<http_response> export_prometheus_config(app& a, const http_request& request, const request_context&,
                                                               const std::string&) {
  auto ports = read_ports(a);
  if (!ports) co_return settings_unreadable(request);
  auto address_step = server_address(a);
  const std::string ip = co_await std::move(address_step);
  std::string yaml = fmt::format(
      "# Prometheus configuration for the SMS Bridge laptop stack.\n"
      "# Scrapes {0} through the monitoring doors: open them first (open-port or open-all).\n"
      "global:\n"
      "  scrape_interval: 15s\n"
      "  evaluation_interval: 15s\n"
      "  external_labels:\n"
      "    monitor: sms-bridge\n"
      "# The laptop stack's alert rules (laptop-monitoring/prometheus/alerts.yml), if present.\n"
      "rule_files:\n"
      "  - alerts/*.yml\n"
      "scrape_configs:\n"
      "  - job_name: prometheus\n"
      "    static_configs:\n"
      "      - targets: ['localhost:9090']\n",
      ip);
  if (auto m = ports->find("metrics"); m != ports->end() && m->second.enabled) {
    yaml += fmt::format(
        "  - job_name: sms_bridge\n"
        "    metrics_path: /metrics\n"
        "    scrape_interval: 15s\n"
        "    scrape_timeout: 10s\n"
        "    static_configs:\n"
        "      - targets: ['{}:{}']\n"
        "        labels:\n"
        "          door: metrics\n",
        ip, m->second.port);
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
        "          server: '{}:{}'\n",
        ip, p->second.port);
  }
  http_response r{http::status::ok, request.version()};
  r.set(http::field::content_type, "application/yaml");
  r.set(http::field::content_disposition, "attachment; filename=\"prometheus-remote.yml\"");
  r.keep_alive(request.keep_alive());
  r.body() = std::move(yaml);
  r.prepare_payload();
  co_return r;
}

boost::asio::awaitable<http_response> list_logs(app& a, const http_request& request, const request_context&,
                                                const std::string&) {
  auto files = list_log_files(a.config.log_dir);
  if (!files) {
    a.report(files.error().message);
    co_return error_response(request, http::status::service_unavailable, "The log directory cannot be read.");
  }
  const auto modified = [](const log_file& f) {
    google::protobuf::Timestamp t;
    t.set_seconds(f.modified_unix);
    return iso(t);
  };
  // The original's {service: {path, size, modified}} for the services that have a log; every
  // file, by the name logs/download takes, under "files".
  json::object services;
  for (const auto service : log_services) {
    if (auto f = newest_service_log(*files, service)) {
      services[service] = json::object{{"path", fmt::format("{}/{}", a.config.log_dir, f->name)}, {"size", f->bytes},
                                       {"modified", modified(*f)}, {"name", f->name}};
    }
  }
  json::array out;
  for (const auto& f : *files) out.push_back(json::object{{"name", f.name}, {"bytes", f.bytes}, {"modified_at", modified(f)}});
  co_return json_response(request, http::status::ok,
                          json::object{{"logs", std::move(services)}, {"timestamp", now_iso()}, {"files", std::move(out)}});
}

boost::asio::awaitable<http_response> download_log(app& a, const http_request& request, const request_context&,
                                                   const std::string&) {
  const std::string_view target(request.target().data(), request.target().size());
  const std::string_view path = target_path(target);
  constexpr std::string_view prefix = "/admin/monitoring/logs/download/";
  const std::string_view name = path.starts_with(prefix) ? path.substr(prefix.size()) : std::string_view{};
  std::optional<std::size_t> tail;
  if (auto t = query_parameter(target, "tail")) {
    auto n = whole_number(*t);
    if (!n || *n < 1 || *n > static_cast<std::int64_t>(max_tail_lines)) {
      co_return error_response(request, http::status::unprocessable_entity, fmt::format("'tail' must be from 1 to {}.", max_tail_lines));
    }
    tail = static_cast<std::size_t>(*n);
  }
  // application, postgres and redis (the original's services) mean that service's newest file,
  // downloaded as SERVICE-YYYYMMDD.log; any other name is a file (or folder) of the log directory.
  std::string file(name), filename(name);
  std::replace(filename.begin(), filename.end(), '/', '-');
  if (std::find(std::begin(log_services), std::end(log_services), name) != std::end(log_services)) {
    auto files = list_log_files(a.config.log_dir);
    if (!files) {
      a.report(files.error().message);
      co_return error_response(request, http::status::service_unavailable, "The log directory cannot be read.");
    }
    auto newest = newest_service_log(*files, name);
    if (!newest) co_return error_response(request, http::status::not_found, fmt::format("There is no {} log yet.", name));
    file = newest->name;
    google::protobuf::Timestamp t;
    t.set_seconds(newest->modified_unix);
    std::string day = TimeUtil::ToString(t).substr(0, 10);  // the file's last write, YYYY-MM-DD
    day.erase(std::remove(day.begin(), day.end(), '-'), day.end());
    filename = fmt::format("{}-{}.log", name, day);
  }
  auto text = read_log_file(a.config.log_dir, file, tail);
  if (!text) {
    switch (text.error()) {
      case log_read_error::not_found:
        co_return error_response(request, http::status::not_found, "There is no such log file.");
      case log_read_error::too_large:
        co_return error_response(request, http::status::payload_too_large,
                                 fmt::format("The log file is larger than {} MiB; ask for its end with ?tail=N.", max_log_download >> 20));
      case log_read_error::unreadable:
        co_return error_response(request, http::status::service_unavailable, "The log file cannot be read.");
    }
  }
  http_response r{http::status::ok, request.version()};
  r.set(http::field::content_type, "text/plain; charset=utf-8");
  r.set(http::field::content_disposition, fmt::format("attachment; filename=\"{}\"", filename));
  r.keep_alive(request.keep_alive());
  r.body() = std::move(*text);
  r.prepare_payload();
  co_return r;
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
  r.add(http::verb::post, "/admin/monitoring/open-all", admin(a, open_all));
  r.add(http::verb::post, "/admin/monitoring/close-all", admin(a, close_all));
  r.add(http::verb::get, "/admin/monitoring/port-config", admin(a, get_port_config));
  r.add(http::verb::post, "/admin/monitoring/port-config", admin(a, post_port_config));
  r.add(http::verb::post, "/admin/monitoring/port-config/reset", admin(a, reset_port_config));
  r.add(http::verb::get, "/admin/monitoring/port-config/available-ports", admin(a, available_ports));
  r.add(http::verb::get, "/admin/monitoring/audit", admin(a, audit));
  r.add(http::verb::get, "/admin/monitoring/export-prometheus-config", admin(a, export_prometheus_config));
  r.add(http::verb::get, "/admin/monitoring/logs/list", admin(a, list_logs));
  r.add(http::verb::get, "/admin/monitoring/logs/download/*", admin(a, download_log));
}

}  // namespace smsbridge::api
