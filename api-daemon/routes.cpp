// The api-daemon's route tables, /health, client addresses and the admin gate.
#include "api-daemon/routes.hpp"

#include <array>
#include <chrono>
#include <ctime>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "api-daemon/sessions.hpp"
#include "api-daemon/web_ui.hpp"
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

namespace {
// Asks the database and the helper, at most once per second however many /health requests come:
// a load balancer polling every instance must not turn into database load. Concurrent requests
// during a check wait for the one check in flight.
boost::asio::awaitable<void> refresh_health(app& a) {
  auto& h = a.health;
  const auto now = std::chrono::steady_clock::now();
  if (h.checked && now - h.checked_at < std::chrono::seconds(1)) co_return;
  if (h.checking) {
    boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor);
    while (h.checking) {
      wait.expires_after(std::chrono::milliseconds(2));
      co_await wait.async_wait(boost::asio::use_awaitable);
    }
    co_return;
  }
  h.checking = true;
  // The database answers, and the outbox: an item that failed for good, or one retried for more
  // than five minutes, means the backend is not taking deliveries.
  auto probe = [](pg::connection& c) -> pg::db_result<std::string> {
    auto r = c.exec("SELECT CASE WHEN EXISTS (SELECT 1 FROM sync_outbox WHERE status = 'failed') "
                    "OR EXISTS (SELECT 1 FROM sync_outbox WHERE status = 'pending' AND attempts > 0 "
                    "AND created_at < now() - interval '5 minutes') THEN 'failing' ELSE 'ok' END");
    if (!r) return r.error();
    return std::string(r->get(0, 0).value_or("ok"));
  };
  // Every argument of a co_await is a named local: see worker::run.
  auto db_check = a.db.call(std::move(probe));
  const auto db = co_await std::move(db_check);
  firewall::v1::Request status;
  status.mutable_status();
  auto helper_check = call_helper(a, status);
  const auto helper = co_await std::move(helper_check);
  h.database_up = db.has_value();
  h.backend_sync = db ? *db : "unknown";
  h.helper_up = helper.has_value() && !helper->has_error();
  h.checked = true;
  h.checked_at = std::chrono::steady_clock::now();
  h.checking = false;
}
}  // namespace

handler health_endpoint(app& a) {
  return [&a](const http_request& request, const request_context&) -> boost::asio::awaitable<http_response> {
    auto refresh = refresh_health(a);
    co_await std::move(refresh);
    const bool db_up = a.health.database_up, helper_up = a.health.helper_up;
    // unhealthy (503): no database, so neither API can work; degraded (200): the helper or the
    // backend is away, which must not take the public API offline.
    const char* status = !db_up ? "unhealthy" : (!helper_up || a.health.backend_sync != "ok") ? "degraded" : "healthy";
    boost::json::object body{{"status", status},
                             {"checks", boost::json::object{{"database", db_up ? "up" : "down"},
                                                            {"firewall_helper", helper_up ? "up" : "down"},
                                                            {"backend_sync", a.health.backend_sync}}},
                             {"database", db_up ? "up" : "down"},
                             {"firewall_helper", helper_up ? "up" : "down"},
                             {"version", SMS_BRIDGE_VERSION},
                             {"timestamp", fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::time(nullptr)))}};
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

namespace {
bool state_changing(http::verb v) { return v != http::verb::get && v != http::verb::head && v != http::verb::options; }

bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

http_response refused_login(const http_request& request, const auth_result& verdict) {
  switch (verdict.outcome) {
    case auth_outcome::throttled: {
      auto r = error_response(request, http::status::too_many_requests, "Too many failed logins; try again later.");
      r.set(http::field::retry_after, std::to_string(verdict.retry_after));
      return r;
    }
    case auth_outcome::busy:
      return error_response(request, http::status::service_unavailable, "Too many logins are being checked; try again.");
    case auth_outcome::unavailable:
      return error_response(request, http::status::service_unavailable, "Logins cannot be checked right now.");
    default: {
      auto r = error_response(request, http::status::unauthorized, "Valid admin credentials are required.");
      // The admin UI marks its calls: a Basic challenge would make the browser pop up its own
      // password dialog instead of letting the page show its login form.
      if (request["X-Requested-With"] != "sms-bridge-admin-ui") {
        r.set(http::field::www_authenticate, R"(Basic realm="SMS Bridge admin", charset="UTF-8")");
      }
      return r;
    }
  }
}

// Came this request over HTTPS? Only a trusted proxy can say so.
bool over_https(const app& a, const http_request& request, const request_context& context) {
  auto ip = firewall::parse_ip_address(context.peer_ip);
  if (!ip) return false;
  for (const auto& proxy : a.config.trusted_proxies) {
    if (auto net = firewall::parse_cidr(proxy); net && net->contains(*ip)) return request["X-Forwarded-Proto"] == "https";
  }
  return false;
}

std::string session_cookie_header(const app& a, const http_request& request, const request_context& context,
                                  std::string_view token, int max_age) {
  return fmt::format("{}={}; Path=/admin; Max-Age={}; HttpOnly; SameSite=Strict{}", session_cookie_name, token, max_age,
                     over_https(a, request, context) ? "; Secure" : "");
}
}  // namespace

bool basic_request_may_change_state(http::verb method, std::string_view content_type) {
  if (!state_changing(method)) return true;
  // An allow-list, not a deny-list: a cross-site fetch() in no-cors mode can send a Blob body with
  // no Content-Type at all, and a browser attaches its cached Basic login to it. Only
  // application/json needs a CORS preflight, which a cross-site page cannot pass.
  const auto semi = content_type.find(';');
  auto type = content_type.substr(0, semi);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  constexpr std::string_view json = "application/json";
  if (type.size() != json.size()) return false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(type[i])) != json[i]) return false;
  }
  return true;
}

handler require_admin(app& a, admin_handler inner) {
  handler gated = [&a, inner = std::move(inner)](const http_request& request,
                                        const request_context& context) -> boost::asio::awaitable<http_response> {
    const auto authorization = request[http::field::authorization];
    const auto cookie = session_cookie(std::string_view(request[http::field::cookie].data(), request[http::field::cookie].size()));
    std::string admin;
    if (!authorization.empty() || !cookie) {
      // API clients: HTTP Basic.
      auto check = a.auth.check(std::string_view(authorization.data(), authorization.size()), client_address(a, request, context));
      const auto verdict = co_await std::move(check);
      if (verdict.outcome != auth_outcome::ok) co_return refused_login(request, verdict);
      const auto type = request[http::field::content_type];
      if (!basic_request_may_change_state(request.method(), std::string_view(type.data(), type.size()))) {
        co_return error_response(request, http::status::unsupported_media_type,
                                 "Send state-changing requests with Content-Type: application/json.");
      }
      admin = verdict.admin;
    } else {
      // Browsers: the session cookie, and the CSRF token for every state-changing request.
      auto lookup = [token = *cookie](pg::connection& c) { return find_session(c, token); };
      auto lookup_step = a.db.call(std::move(lookup));
      const auto session = co_await std::move(lookup_step);
      if (!session) co_return error_response(request, http::status::service_unavailable, "Logins cannot be checked right now.");
      if (!*session) co_return refused_login(request, auth_result{});
      const auto csrf = request["X-CSRF-Token"];
      if (state_changing(request.method()) && !same_secret(std::string_view(csrf.data(), csrf.size()), (*session)->csrf_token)) {
        co_return error_response(request, http::status::forbidden, "A valid CSRF token is required.");
      }
      admin = (*session)->username;
    }
    auto answer = inner(request, context, admin);
    co_return co_await std::move(answer);
  };
  // Every admin answer, refusals included, carries the admin security headers.
  return [gated = std::move(gated)](const http_request& request,
                                    const request_context& context) -> boost::asio::awaitable<http_response> {
    auto answer = gated(request, context);
    auto response = co_await std::move(answer);
    set_admin_security_headers(response, false);
    co_return response;
  };
}

// POST /admin/login {username, password} (JSON or a form): a session cookie and a CSRF token.
handler login_endpoint(app& a) {
  return [&a](const http_request& request, const request_context& context) -> boost::asio::awaitable<http_response> {
    std::string user, password;
    const auto type = request[http::field::content_type];
    if (type.starts_with("application/x-www-form-urlencoded")) {
      const std::string query = "?" + request.body();
      user = query_parameter(query, "username").value_or("");
      password = query_parameter(query, "password").value_or("");
    } else {
      boost::system::error_code ec;
      const auto body = boost::json::parse(request.body(), ec);
      const auto* object = !ec && body.is_object() ? &body.as_object() : nullptr;
      const auto* u = object ? object->if_contains("username") : nullptr;
      const auto* p = object ? object->if_contains("password") : nullptr;
      if (!u || !p || !u->is_string() || !p->is_string()) {
        co_return error_response(request, http::status::unprocessable_entity, "Send {\"username\": ..., \"password\": ...}.");
      }
      user = std::string(u->as_string());
      password = std::string(p->as_string());
    }
    auto check = a.auth.login(user, password, client_address(a, request, context));
    const auto verdict = co_await std::move(check);
    if (verdict.outcome != auth_outcome::ok) {
      auto refused = refused_login(request, verdict);
      refused.erase(http::field::www_authenticate);  // a form login must not pop up the browser's Basic dialog
      if (verdict.outcome == auth_outcome::denied) refused.body() = R"({"detail":"Wrong user name or password."})", refused.prepare_payload();
      co_return refused;
    }
    auto create = [name = verdict.admin, version = verdict.password_version](pg::connection& c) {
      return create_session(c, name, version);
    };
    auto create_step = a.db.call(std::move(create));
    const auto session = co_await std::move(create_step);
    if (!session) co_return error_response(request, http::status::service_unavailable, "Logins cannot be recorded right now.");
    auto r = json_response(request, http::status::ok,
                           boost::json::object{{"status", "ok"}, {"username", verdict.admin},
                                               {"csrf_token", session->csrf_token}, {"expires_at", session->expires_at}});
    r.set(http::field::set_cookie, session_cookie_header(a, request, context, session->token, session_lifetime_seconds));
    set_admin_security_headers(r, false);
    co_return r;
  };
}

router public_routes(app& a) {
  router r;
  r.add(http::verb::get, "/health", health_endpoint(a));
  r.add(http::verb::post, "/admin/login", login_endpoint(a));
  // Who is logged in, the address the server sees (the UI's default door source) and, for a
  // browser session, its CSRF token, so a reloaded page can keep working without a new login.
  r.add(http::verb::get, "/admin/session",
        require_admin(a, [&a](const http_request& request, const request_context& context, const std::string& admin)
                             -> boost::asio::awaitable<http_response> {
          boost::json::object body{{"username", admin}, {"client_address", client_address(a, request, context)}};
          const auto cookie = session_cookie(std::string_view(request[http::field::cookie].data(), request[http::field::cookie].size()));
          if (cookie && request[http::field::authorization].empty()) {
            auto lookup = [token = *cookie](pg::connection& c) { return find_session(c, token); };
            auto lookup_step = a.db.call(std::move(lookup));
            const auto session = co_await std::move(lookup_step);
            if (session && *session) body["csrf_token"] = (*session)->csrf_token;
          }
          co_return json_response(request, http::status::ok, body);
        }));
  add_web_ui_routes(r);
  r.add(http::verb::post, "/admin/logout",
        require_admin(a, [&a](const http_request& request, const request_context& context, const std::string&)
                             -> boost::asio::awaitable<http_response> {
          const auto cookie = session_cookie(std::string_view(request[http::field::cookie].data(), request[http::field::cookie].size()));
          if (cookie) {
            auto remove = [token = *cookie](pg::connection& c) { return delete_session(c, token); };
            auto remove_step = a.db.call(std::move(remove));
            (void)co_await std::move(remove_step);
          }
          auto answer = json_response(request, http::status::ok, boost::json::object{{"status", "logged_out"}});
          answer.set(http::field::set_cookie, session_cookie_header(a, request, context, "", 0));
          co_return answer;
        }));
  if (a.config.monitoring_enabled) add_monitoring_routes(r, a);
  if (!a.config.hmac_secret.empty() && !a.config.sms_api_key.empty()) add_sms_routes(r, a);
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
    // /health's checks, shared (at most once a second) rather than a query of its own per scrape.
    auto refresh = refresh_health(a);
    co_await std::move(refresh);
    a.stats.set_database_up(a.health.database_up);
    auto sms_counts = [](pg::connection& c) -> pg::db_result<std::array<double, 3>> {
      auto r = c.exec("SELECT (SELECT count(*) FROM sync_outbox WHERE status = 'pending'), "
                      "(SELECT count(*) FROM onboarding_codes WHERE consumed_at IS NULL AND expires_at > now()), "
                      "(SELECT count(*) FROM sms_blacklist)");
      if (!r) return r.error();
      return std::array<double, 3>{std::stod(std::string(*r->get(0, 0))), std::stod(std::string(*r->get(0, 1))),
                                   std::stod(std::string(*r->get(0, 2)))};
    };
    auto counts_step = a.db.call(std::move(sms_counts));
    if (const auto counts = co_await std::move(counts_step)) a.stats.set_sms_gauges((*counts)[0], (*counts)[1], (*counts)[2]);
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
