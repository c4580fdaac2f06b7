#include "api-daemon/doors.hpp"

#include <algorithm>
#include <cstdlib>

#include <boost/asio/this_coro.hpp>
#include <google/protobuf/util/time_util.h>
#include <fmt/format.h>

#include "api-daemon/bounded_numbers.hpp"
#include "api-daemon/crypto.hpp"
#include "api-daemon/monitoring_shapes.hpp"
#include "api-daemon/pg.hpp"
#include "common/log.hpp"
#include "proto/framing.hpp"
#include "proto/net_types.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;
using google::protobuf::util::TimeUtil;

// The "service" of a body: a name of 1 to 32 characters.
std::optional<std::string> service_field(const json::object& body) {
  const auto* service = body.if_contains("service");
  if (!service || !service->is_string() || service->as_string().empty() || service->as_string().size() > 32) return std::nullopt;
  return std::string(service->as_string());
}

json::object describe_grant(const api_config& config, const v1::Grant& g, const std::string& ip) {
  json::object out{{"service", g.service()},       {"port", g.external_port()}, {"source", g.source()},
                   {"opened_at", iso(g.opened_at())}, {"expires_at", iso(g.expires_at())}, {"opened_by", g.opened_by()},
                   {"connection_info", connection_info(config, g.service(), g.external_port(), ip)}};
  out["reason"] = g.reason().empty() ? json::value(nullptr) : json::value(g.reason());
  return out;
}

// The "reason" of a body: absent, null or "" is none (refused when SMS_BRIDGE_REQUIRE_REASON is
// set); otherwise checked by reason_problem. The error is a 422 sentence.
struct reason_choice {
  std::string reason;
  std::optional<std::string> error;
};
reason_choice read_reason(const api_config& config, const json::object* body) {
  reason_choice out;
  const json::value* r = body ? body->if_contains("reason") : nullptr;
  if (r && !r->is_null()) {
    if (!r->is_string()) return {{}, "'reason' must be a string of at most 200 printable characters."};
    out.reason = std::string(r->as_string());
    if (auto problem = reason_problem(out.reason)) return {{}, std::move(problem)};
  }
  if (config.require_reason && out.reason.find_first_not_of(' ') == std::string::npos) {
    return {{}, "This server requires a reason for opening or extending a door: give 'reason' (at most 200 characters), "
                "which is recorded in the audit trail."};
  }
  return out;
}

struct open_outcome {
  http::status status = http::status::ok;
  json::object body;
};

bool already_open(const helper_result<v1::Grant>& r) { return !r && r.error().code == v1::ALREADY_OPEN && !r.error().unreachable; }

// Describes one door's opening as open-port and open-all report it. `live` is the helper's doors,
// listed only when some door was already open (the original answered 200 with the live door; its
// duration is not changed). A refusal is logged by the caller, once per helper answer.
open_outcome describe_opening(const api_config& config, const std::string& name, std::uint16_t port,
                              const helper_result<v1::Grant>& opened, const std::string& ip, const std::vector<v1::Grant>* live) {
  if (opened) {
    json::object out = describe_grant(config, *opened, ip);
    out["status"] = "opened";
    return open_outcome{http::status::ok, std::move(out)};
  }
  if (already_open(opened)) {
    json::object out{{"service", name}, {"port", port}};
    for (const auto& g : live ? *live : std::vector<v1::Grant>{})
      if (g.service() == name) out = describe_grant(config, g, ip);
    out["status"] = "already_open";
    out["message"] = "Port is already open";
    return open_outcome{http::status::ok, std::move(out)};
  }
  return open_outcome{http_status_of(opened.error()), json::object{{"detail", public_sentence(opened.error())}}};
}

// The helper's doors, for describe_opening, when a door was already open (`needed`).
boost::asio::awaitable<std::optional<std::vector<v1::Grant>>> live_doors_if(bool needed, monitoring_context& m) {
  if (!needed) co_return std::nullopt;
  auto listing = all_grants(m.helper);
  auto grants = co_await std::move(listing);
  if (!grants) co_return std::nullopt;
  co_return std::move(*grants);
}

// Opens one door: one helper round trip (the server's address is known from the last minute, the
// already-open case asks again). Parameters by value: a coroutine outlives the full-expression that
// starts it, so a reference parameter bound to a temporary (cidr->to_string()) would dangle (found by ASan).
boost::asio::awaitable<open_outcome> open_door(monitoring_context& m, std::string name, monitoring_port door, std::int64_t seconds,
                                               std::string source, std::string admin, std::string reason) {
  auto opening = m.helper.open(
      {name, door.port, std::move(source), static_cast<std::uint32_t>(seconds), std::move(admin), std::move(reason)});
  const auto opened = co_await std::move(opening);
  if (!opened && !already_open(opened)) log_refusal(opened.error());
  auto addressing = m.address.get();
  const std::string ip = co_await std::move(addressing);
  auto listing = live_doors_if(already_open(opened), m);
  const auto live = co_await std::move(listing);
  co_return describe_opening(m.config, name, door.port, opened, ip, live ? &*live : nullptr);
}

// Looks a door up in the settings file: 404 (unknown), 400 (disabled) or 500 (unreadable).
struct door_lookup {
  std::optional<monitoring_port> door;
  std::optional<http_response> error;
};
door_lookup find_door(monitoring_context& m, const http_request& request, std::string_view service) {
  auto ports = read_ports(m);
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

boost::asio::awaitable<http_response> open_port(monitoring_context& m, const http_request& request, const request_context& context,
                                                const std::string& admin) {
  auto body = json_object_body(request);
  if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
  const auto name = service_field(*body);
  if (!name) co_return error_response(request, http::status::unprocessable_entity, "'service' must be a service name.");
  const auto duration = read_duration(m.config, &*body, "");
  if (duration.error) co_return error_response(request, http::status::unprocessable_entity, *duration.error);
  auto reason = read_reason(m.config, &*body);
  if (reason.error) co_return error_response(request, http::status::unprocessable_entity, *reason.error);
  std::string source = m.gate.proxies().client_address(request, context);
  if (const auto* s = body->if_contains("source")) {
    if (!s->is_string()) co_return error_response(request, http::status::unprocessable_entity, "'source' must be a CIDR.");
    source = std::string(s->as_string());
  }
  auto cidr = firewall::parse_cidr(source);
  if (!cidr) co_return error_response(request, http::status::unprocessable_entity, cidr.error().message);
  auto door = find_door(m, request, *name);
  if (door.error) co_return std::move(*door.error);
  auto opening = open_door(m, *name, *door.door, duration.seconds, cidr->to_string(), admin, std::move(reason.reason));
  auto outcome = co_await std::move(opening);
  const auto executor = co_await boost::asio::this_coro::executor;
  m.audit.drain_soon(executor);
  co_return json_response(request, outcome.status, outcome.body);
}

boost::asio::awaitable<http_response> open_all(monitoring_context& m, const http_request& request, const request_context& context,
                                               const std::string& admin) {
  std::optional<json::object> body;
  if (!request.body().empty()) {
    body = json_object_body(request);
    if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
  }
  const auto duration = read_duration(m.config, body ? &*body : nullptr, std::string_view(request.target().data(), request.target().size()));
  if (duration.error) co_return error_response(request, http::status::unprocessable_entity, *duration.error);
  const auto reason = read_reason(m.config, body ? &*body : nullptr);
  if (reason.error) co_return error_response(request, http::status::unprocessable_entity, *reason.error);
  auto cidr = firewall::parse_cidr(m.gate.proxies().client_address(request, context));
  if (!cidr) co_return error_response(request, http::status::unprocessable_entity, cidr.error().message);
  auto ports = read_ports(m);
  if (!ports) co_return settings_unreadable(request);
  // Every enabled door in one helper request (one nft batch, one journal write), 64 at a time.
  std::vector<std::pair<std::string, std::uint16_t>> doors;
  std::vector<helper_result<v1::Grant>> opened;
  for (const auto& [name, door] : *ports)
    if (door.enabled) doors.emplace_back(name, door.port);
  for (std::size_t first = 0; first < doors.size(); first += proto::max_open_many_doors) {
    std::vector<open_request> batch;
    for (std::size_t i = first; i < std::min(doors.size(), first + proto::max_open_many_doors); ++i) {
      batch.push_back({doors[i].first, doors[i].second, cidr->to_string(), static_cast<std::uint32_t>(duration.seconds), admin, reason.reason});
    }
    const std::size_t asked = batch.size();
    auto opening = m.helper.open_many(std::move(batch));
    auto outcomes = co_await std::move(opening);
    if (!outcomes) log_refusal(outcomes.error());
    for (std::size_t i = 0; i < asked; ++i) {
      if (!outcomes) {
        opened.emplace_back(outcomes.error());  // the whole request failed: each door says why
        continue;
      }
      if (!(*outcomes)[i] && !already_open((*outcomes)[i])) log_refusal((*outcomes)[i].error());
      opened.push_back(std::move((*outcomes)[i]));
    }
  }
  auto addressing = m.address.get();
  const std::string ip = co_await std::move(addressing);
  auto listing = live_doors_if(std::any_of(opened.begin(), opened.end(), already_open), m);
  const auto live = co_await std::move(listing);
  json::object results;
  for (std::size_t i = 0; i < doors.size(); ++i) {
    auto outcome = describe_opening(m.config, doors[i].first, doors[i].second, opened[i], ip, live ? &*live : nullptr);
    if (outcome.status != http::status::ok) {
      // The original's {error: sentence} for a door that did not open.
      const auto* detail = outcome.body.if_contains("detail");
      outcome.body = {{"status", "error"}, {"error", detail && detail->is_string() ? detail->as_string() : "The door did not open."}};
    }
    results[doors[i].first] = std::move(outcome.body);
  }
  const auto executor = co_await boost::asio::this_coro::executor;
  m.audit.drain_soon(executor);
  co_return json_response(request, http::status::ok,
                          json::object{{"status", "completed"}, {"results", std::move(results)}, {"timestamp", now_iso()}});
}

// A close the helper did not carry out (it is away, or could not act): the admins are told, since
// the door may still be open. A refusal of the request itself (no such door open) is not news.
boost::asio::awaitable<void> notify_close_failed(monitoring_context& m, std::string service, std::string admin, refusal why) {
  if (!m.notifications || http_status_of(why) < http::status::internal_server_error) co_return;
  auto queuing = queue_notification(*m.notifications, m.settings, close_failed_notification(std::move(service), std::move(admin),
                                                                                          why.sentence, now_iso()),
                                    fmt::format("close_failed:{}", to_hex(random_bytes(16))));
  (void)co_await std::move(queuing);
}

// Sets a live door's deadline to now + the duration, longer or shorter than before, within the
// bounds of open-port; the helper renews the kernel element in one batch.
boost::asio::awaitable<http_response> extend_port(monitoring_context& m, const http_request& request, const request_context&,
                                                  const std::string& admin) {
  auto body = json_object_body(request);
  if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
  const auto name = service_field(*body);
  if (!name) co_return error_response(request, http::status::unprocessable_entity, "'service' must be a service name.");
  if (!body->contains("duration_minutes") && !body->contains("duration_seconds")) {
    co_return error_response(request, http::status::unprocessable_entity,
                             "Give the door's new time from now: 'duration_minutes' or 'duration_seconds'.");
  }
  const auto duration = read_duration(m.config, &*body, "");
  if (duration.error) co_return error_response(request, http::status::unprocessable_entity, *duration.error);
  auto reason = read_reason(m.config, &*body);
  if (reason.error) co_return error_response(request, http::status::unprocessable_entity, *reason.error);
  auto door = find_door(m, request, *name);
  if (door.error) co_return std::move(*door.error);
  auto extending = m.helper.extend({*name, static_cast<std::uint32_t>(duration.seconds), admin, reason.reason});
  const auto extended = co_await std::move(extending);
  if (!extended) {
    if (extended.error().code == v1::NOT_OPEN && !extended.error().unreachable) {
      co_return error_response(request, http::status::not_found,
                               fmt::format("The door of '{}' is not open: open it with open-port instead.", *name));
    }
    co_return refused(request, extended.error());
  }
  const auto executor = co_await boost::asio::this_coro::executor;
  m.audit.drain_soon(executor);
  auto addressing = m.address.get();
  const std::string ip = co_await std::move(addressing);
  json::object out = describe_grant(m.config, extended->grant(), ip);
  out["status"] = "extended";
  out["previous_expires_at"] = iso(extended->previous_expires_at());
  out["duration_seconds"] = duration.seconds;
  // This change's reason; the one given at the open stays in port-status and history.
  out["reason"] = reason.reason.empty() ? json::value(nullptr) : json::value(reason.reason);
  co_return json_response(request, http::status::ok, out);
}

boost::asio::awaitable<http_response> close_all(monitoring_context& m, const http_request& request, const request_context&,
                                                const std::string& admin) {
  auto closing = m.helper.close_all(admin, "closed through the admin API (close-all)");
  const auto closed_all = co_await std::move(closing);
  if (!closed_all) {
    auto notifying = notify_close_failed(m, "", admin, closed_all.error());
    co_await std::move(notifying);
    co_return refused(request, closed_all.error());
  }
  // The helper closes every door in one batch or none, so errors is always null here: a refusal
  // of the batch is an HTTP error instead.
  json::object results;
  json::array closed;
  for (const auto& g : closed_all->closed()) {
    results[g.service()] = json::object{{"status", "closed"}, {"port", g.external_port()}};
    closed.push_back(json::string(g.service()));
  }
  const auto executor = co_await boost::asio::this_coro::executor;
  m.audit.drain_soon(executor);
  co_return json_response(request, http::status::ok,
                          json::object{{"status", "completed"}, {"closed", std::move(closed)}, {"errors", nullptr},
                                       {"timestamp", now_iso()}, {"results", std::move(results)},
                                       {"closed_count", closed_all->closed_count()}});
}

boost::asio::awaitable<http_response> close_port(monitoring_context& m, const http_request& request, const request_context&,
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
  auto closing = m.helper.close(*service, admin, reason);
  const auto closed = co_await std::move(closing);
  if (!closed) {
    auto notifying = notify_close_failed(m, *service, admin, closed.error());
    co_await std::move(notifying);
    co_return refused(request, closed.error());
  }
  const auto executor = co_await boost::asio::this_coro::executor;
  m.audit.drain_soon(executor);
  co_return json_response(request, http::status::ok,
                          json::object{{"status", "closed"}, {"service", closed->service()}, {"port", closed->external_port()}});
}

boost::asio::awaitable<http_response> port_status(monitoring_context& m, const http_request& request, const request_context&,
                                                  const std::string&) {
  auto listing = m.helper.list("");
  const auto list = co_await std::move(listing);
  if (!list) co_return refused(request, list.error());
  auto addressing = m.address.get();
  const std::string ip = co_await std::move(addressing);
  co_return json_response(request, http::status::ok, active_ports(m.config, *list, ip, &m.audit));
}

boost::asio::awaitable<http_response> services(monitoring_context& m, const http_request& request, const request_context&,
                                               const std::string&) {
  auto ports = read_ports(m);
  if (!ports) co_return settings_unreadable(request);
  auto listing = m.helper.list("");
  const auto list = co_await std::move(listing);
  json::object out;
  for (const auto& [name, door] : *ports) {
    json::object s{{"port", door.port}, {"enabled", door.enabled}, {"description", door.description}, {"service", name},
                   {"status", list ? "closed" : "unknown"}};
    if (list) {
      for (const auto& g : list->grants()) {
        if (g.service() != name) continue;
        s["status"] = "open";
        s["expires_at"] = iso(g.expires_at());
        s["source"] = g.source();
        s["opened_by"] = g.opened_by();
        s["kernel_expires_in_seconds"] = kernel_seconds(g);
      }
    }
    out[name] = std::move(s);
  }
  json::object open;  // with the helper down nothing is known to be open
  if (list) {
    auto addressing = m.address.get();
    const std::string ip = co_await std::move(addressing);
    open = active_ports(m.config, *list, ip, &m.audit);
  }
  co_return json_response(request, http::status::ok,
                          json::object{{"services", std::move(out)}, {"active_ports", std::move(open)},
                                       {"firewall_helper", list ? "up" : "down"}, {"timestamp", now_iso()}});
}
}  // namespace

json::value kernel_seconds(const v1::Grant& g) {
  if (!g.has_kernel_expires_in_ms()) return nullptr;
  return static_cast<std::int64_t>(g.kernel_expires_in_ms() / 1000);
}

json::object connection_info(const api_config& config, std::string_view service, std::uint32_t port, const std::string& ip) {
  const std::string hostport = fmt::format("{}:{}", ip, port);
  if (service == "metrics") {
    return {{"url", fmt::format("http://{}/metrics", hostport)},
            {"health", fmt::format("http://{}/health", hostport)},
            {"prometheus_target", hostport}};
  }
  if (service == "postgres" || service == "pgbouncer") {
    // The login sms-bridge-api itself uses: the stack's real role, not the seed's "postgres".
    const pg::login login = pg::login_of(config.database_url);
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

json::object active_ports(const api_config& config, const v1::ListResult& list, const std::string& ip, const audit_drain* audit) {
  const auto now = TimeUtil::TimestampToMilliseconds(list.now());
  json::object ports;
  for (const auto& g : list.grants()) {
    auto d = describe_grant(config, g, ip);
    d.erase("service");
    const std::int64_t remaining = std::max<std::int64_t>(0, (TimeUtil::TimestampToMilliseconds(g.expires_at()) - now) / 1000);
    d["time_remaining"] = time_remaining_text(remaining);
    d["time_remaining_seconds"] = remaining;
    d["kernel_expires_in_seconds"] = kernel_seconds(g);
    // Drift: the kernel enforces a deadline other than the state's. The helper repairs it as it
    // lists (and reports the repaired time, and a DRIFT_REPAIRED event: drift_repaired_at), so
    // this is true only when the repair did not take.
    if (g.has_kernel_expires_in_ms()) {
      const auto state_ms = TimeUtil::TimestampToMilliseconds(g.expires_at()) - now;
      const auto kernel_ms = static_cast<std::int64_t>(g.kernel_expires_in_ms());
      d["kernel_drift"] = std::abs(state_ms - kernel_ms) > drift_tolerance_ms;
    } else {
      d["kernel_drift"] = nullptr;
    }
    const auto* repaired = audit ? audit->drift_repaired_at(g.grant_id()) : nullptr;
    d["drift_repaired_at"] = repaired ? json::value(iso(*repaired)) : json::value(nullptr);
    ports[g.service()] = std::move(d);
  }
  return ports;
}

duration_choice read_duration(const api_config& config, const json::object* body, std::string_view target) {
  const std::int64_t min_s = config.port_min_duration_seconds, max_s = config.port_max_duration_seconds;
  duration_choice out;
  // nullopt: absent; a nullopt inside: present but not a whole number.
  const auto field = [&](const char* key) -> std::optional<std::optional<std::int64_t>> {
    if (body) {
      if (const auto* v = body->if_contains(key)) return v->is_int64() ? std::optional<std::int64_t>(v->as_int64()) : std::nullopt;
    }
    if (auto q = query_parameter(target, key)) return whole_number(*q);
    return std::nullopt;
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

void add_door_routes(router& r, monitoring_context& m) {
  r.add(http::verb::get, "/admin/monitoring/services", monitoring_endpoint(m, services));
  r.add(http::verb::post, "/admin/monitoring/open-port", monitoring_endpoint(m, open_port));
  r.add(http::verb::post, "/admin/monitoring/extend-port", monitoring_endpoint(m, extend_port));
  r.add(http::verb::post, "/admin/monitoring/close-port", monitoring_endpoint(m, close_port));
  r.add(http::verb::get, "/admin/monitoring/port-status", monitoring_endpoint(m, port_status));
  r.add(http::verb::post, "/admin/monitoring/open-all", monitoring_endpoint(m, open_all));
  r.add(http::verb::post, "/admin/monitoring/close-all", monitoring_endpoint(m, close_all));
}

}  // namespace smsbridge::api
