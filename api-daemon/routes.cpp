// The api-daemon's route tables, /health, client addresses and the admin gate.
#include "api-daemon/routes.hpp"

#include <chrono>
#include <map>

#include <boost/json/object.hpp>

#include "proto/helper_client.hpp"
#include "proto/net_types.hpp"

namespace smsbridge::api {

boost::asio::awaitable<fallible<firewall::v1::Response>> call_helper(app& a, firewall::v1::Request request) {
  auto job = [socket = a.config.firewall_socket, request = std::move(request)]() -> fallible<firewall::v1::Response> {
    auto client = firewall::helper_client::connect(socket, std::chrono::seconds(10));
    if (!client) return client.error();
    return client->call(request);
  };
  auto step = a.helper_thread.run(std::move(job));
  co_return co_await std::move(step);
}

handler health_endpoint(app& a) {
  return [&a](const http_request& request, const request_context&) -> boost::asio::awaitable<http_response> {
    // Every argument of a co_await is a named local: see worker::run.
    auto select_one = [](pg::connection& c) -> pg::db_result<bool> {
      auto r = c.exec("SELECT 1");
      if (!r) return r.error();
      return true;
    };
    auto db_check = a.db.call(std::move(select_one));
    const auto db = co_await std::move(db_check);
    firewall::v1::Request status;
    status.mutable_status();
    auto helper_check = call_helper(a, status);
    const auto helper = co_await std::move(helper_check);
    const bool db_up = db.has_value();
    const bool helper_up = helper.has_value() && !helper->has_error();
    boost::json::object body{{"status", db_up && helper_up ? "ok" : "degraded"},
                             {"database", db_up ? "up" : "down"},
                             {"firewall_helper", helper_up ? "up" : "down"},
                             {"version", SMS_BRIDGE_VERSION}};
    co_return json_response(request, db_up ? http::status::ok : http::status::service_unavailable, body);
  };
}

std::string client_address(const app& a, const http_request& request, const request_context& context) {
  const auto trusted = [&](std::string_view address) {
    auto ip = firewall::parse_ip_address(address);
    if (!ip) return false;
    for (const auto& proxy : a.config.trusted_proxies) {
      if (auto net = firewall::parse_cidr(proxy); net && net->contains(*ip)) return true;
    }
    return false;
  };
  if (!trusted(context.peer_ip)) return context.peer_ip;
  const auto header = request["X-Forwarded-For"];
  // Walk from the nearest hop outwards, past our own proxies, to the first address we do not trust.
  std::string_view rest(header.data(), header.size());
  while (!rest.empty()) {
    const auto comma = rest.rfind(',');
    std::string_view hop = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    while (!hop.empty() && hop.front() == ' ') hop.remove_prefix(1);
    while (!hop.empty() && hop.back() == ' ') hop.remove_suffix(1);
    if (!firewall::parse_ip_address(hop)) break;  // garbage: believe nothing further
    if (!trusted(hop)) return std::string(hop);
  }
  return context.peer_ip;
}

handler require_admin(app& a, admin_handler inner) {
  return [&a, inner = std::move(inner)](const http_request& request,
                                        const request_context& context) -> boost::asio::awaitable<http_response> {
    const auto header = request[http::field::authorization];
    auto check = a.auth.check(std::string_view(header.data(), header.size()), client_address(a, request, context));
    const auto verdict = co_await std::move(check);
    switch (verdict.outcome) {
      case auth_outcome::ok: {
        auto answer = inner(request, context, verdict.admin);
        co_return co_await std::move(answer);
      }
      case auth_outcome::busy:
        co_return error_response(request, http::status::service_unavailable, "Too many logins are being checked; try again.");
      case auth_outcome::unavailable:
        co_return error_response(request, http::status::service_unavailable, "Logins cannot be checked right now.");
      case auth_outcome::denied:
        break;
    }
    auto denied = error_response(request, http::status::unauthorized, "Valid admin credentials are required.");
    denied.set(http::field::www_authenticate, R"(Basic realm="SMS Bridge admin", charset="UTF-8")");
    co_return denied;
  };
}

router public_routes(app& a) {
  router r;
  r.add(http::verb::get, "/health", health_endpoint(a));
  if (a.config.monitoring_enabled) add_monitoring_routes(r, a);
  return r;
}

// GET /metrics: asks the helper and the database first, so the gauges are current.
handler metrics_endpoint(app& a) {
  return [&a](const http_request& request, const request_context&) -> boost::asio::awaitable<http_response> {
    firewall::v1::Request status;
    status.mutable_status();
    auto status_step = call_helper(a, status);
    const auto helper = co_await std::move(status_step);
    const bool helper_up = helper && !helper->has_error();
    a.stats.set_helper_up(helper_up);
    if (helper_up) {
      a.stats.set_audit_backlog(helper->status().pending_events());
      firewall::v1::Request list;
      list.mutable_list();
      auto list_step = call_helper(a, list);
      const auto doors = co_await std::move(list_step);
      std::map<std::string, int> per_service;
      for (const auto& s : helper->status().services()) per_service[s] = 0;
      if (doors && !doors->has_error())
        for (const auto& g : doors->list().grants()) ++per_service[g.service()];
      a.stats.set_open_doors(per_service);
    }
    auto select_one = [](pg::connection& c) -> pg::db_result<bool> {
      auto r = c.exec("SELECT 1");
      if (!r) return r.error();
      return true;
    };
    auto db_check = a.db.call(std::move(select_one));
    a.stats.set_database_up((co_await std::move(db_check)).has_value());
    http_response r{http::status::ok, request.version()};
    r.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    r.keep_alive(request.keep_alive());
    r.body() = a.stats.render();
    r.prepare_payload();
    co_return r;
  };
}

router metrics_routes(app& a) {
  router r;
  r.add(http::verb::get, "/health", health_endpoint(a));
  r.add(http::verb::get, "/metrics", metrics_endpoint(a));
  return r;
}

}  // namespace smsbridge::api
