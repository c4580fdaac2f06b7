// The route table itself proves the admin gate: every /admin route but login and the UI's static
// page and assets answers 401 to a request without credentials (asked of the real table, so a new
// route cannot slip past); the page and assets carry the security headers and hold no data.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "api-daemon/routes.hpp"
#include "api-daemon/web_ui.hpp"
#include "tests/api-daemon/fakes.hpp"

using namespace smsbridge::api;

namespace {
// The page, its assets and the OpenAPI document: public by design, they hold no data.
bool is_ui_asset(const std::string& path) {
  return path == "/admin" || path == "/admin/" || path.rfind("/admin/assets/", 0) == 0 || path == "/admin/openapi.json";
}
}  // namespace

TEST_CASE("every /admin route except login refuses a request without credentials with 401") {
  api_config config;
  config.database_url = "postgresql:///unused?host=/nonexistent";  // never reached: no credentials, no lookup
  config.firewall_socket = "/nonexistent/firewall.sock";
  config.hmac_secret = "0123456789abcdef0123";  // so that the SMS API's admin routes are mounted too
  config.sms_api_key = "0123456789abcdef0123";
  testing::fake_firewall helper;
  testing::fake_admin_store admins;
  testing::fake_audit_store audit_store;
  testing::fake_outbox_store outbox;
  testing::fake_sms_store sms_store;
  testing::fake_backend backend;
  settings_source settings("/nonexistent/sms_settings.json");
  const trusted_proxies proxies({});
  basic_auth auth(admins, {});
  admin_gate gate(auth, admins, proxies);
  metrics stats;
  health_monitor health(helper, outbox);
  audit_drain audit(helper, audit_store, stats);
  sms_api_context sms{sms_store, settings, proxies, stats, config.hmac_secret, config.sms_api_key, 60};
  server_address_source address(config.server_ip, helper);
  testing::fake_notification_store notifications;
  monitoring_context monitoring{config, helper, settings, audit, audit_store, gate, address, &notifications};
  metrics_history history{history_config{0, 60, ""}};
  route_parts parts{config, gate, health, helper, stats, sms, backend, monitoring, history};
  const router routes = public_routes(parts);
  boost::asio::io_context io;
  int admin_routes = 0;
  for (const auto& [verb, path] : routes.routes()) {
    if (path.rfind("/admin/", 0) != 0 || path == "/admin/login" || is_ui_asset(path)) continue;
    ++admin_routes;
    std::string target = path;
    if (target.ends_with("/*")) target.replace(target.size() - 1, 1, "x.log");
    http_request request{verb, target, 11};
    request.body() = R"({"service": "metrics"})";
    request.prepare_payload();
    const auto m = routes.find(verb, target);
    REQUIRE(m.found != nullptr);
    // The handler's coroutine keeps references to its arguments: they must outlive io.run()
    // (a temporary context here was a stack-use-after-scope that ASan found).
    const request_context context{"127.0.0.1"};
    auto answer = boost::asio::co_spawn(io, (*m.found)(request, context), boost::asio::use_future);
    io.run();
    io.restart();
    const http_response response = answer.get();
    INFO(std::string(http::to_string(verb)) << " " << path);
    CHECK(response.result() == http::status::unauthorized);
    CHECK(response.body() == R"({"detail":"Valid admin credentials are required."})");
    CHECK(response[http::field::www_authenticate].starts_with("Basic"));
    CHECK(response[http::field::cache_control] == "no-store");
    CHECK(response[http::field::x_frame_options] == "DENY");
  }
  CHECK(admin_routes >= 26);  // 15 monitoring routes, 3 notification routes, session, logout, trigger-recovery, SMS settings and blacklist
}

TEST_CASE("the admin UI is four embedded assets served with a strict Content-Security-Policy") {
  REQUIRE(web_assets().size() == 4);
  router r;
  add_web_ui_routes(r);
  boost::asio::io_context io;
  for (const std::string path : {"/admin", "/admin/", "/admin/assets/app.js", "/admin/assets/app.css", "/admin/assets/favicon.svg"}) {
    INFO(path);
    const auto m = r.find(http::verb::get, path);
    REQUIRE(m.found != nullptr);
    http_request request{http::verb::get, path, 11};
    // The handler's coroutine keeps references to its arguments: they must outlive io.run()
    // (a temporary context here was a stack-use-after-scope that ASan found).
    const request_context context{"127.0.0.1"};
    auto answer = boost::asio::co_spawn(io, (*m.found)(request, context), boost::asio::use_future);
    io.run();
    io.restart();
    const http_response response = answer.get();
    CHECK(response.result() == http::status::ok);
    CHECK(response.body().size() > 100);
    const auto csp = std::string(response["Content-Security-Policy"]);
    CHECK(csp.find("script-src 'self'") != std::string::npos);
    CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
    CHECK(csp.find("unsafe") == std::string::npos);
    CHECK(response[http::field::cache_control] == "no-store");
    CHECK(response["Referrer-Policy"] == "no-referrer");
  }
  // The page loads nothing from elsewhere and has no inline script or handler.
  const auto page = std::string(web_assets()[0].body);
  CHECK(web_assets()[0].name == "index.html");
  CHECK(page.find("http://") == std::string::npos);
  CHECK(page.find("https://") == std::string::npos);
  CHECK(page.find("<script>") == std::string::npos);
  CHECK(page.find("onclick") == std::string::npos);
  // The script never parses strings as HTML.
  const auto script = std::string(web_assets()[2].body);
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"}) {
    INFO(sink);
    CHECK(script.find(sink) == std::string::npos);
  }
}

TEST_CASE("a state change over Basic must be declared application/json; reads need no type") {
  CHECK(basic_request_may_change_state(http::verb::post, "application/json"));
  CHECK(basic_request_may_change_state(http::verb::post, "Application/JSON; charset=utf-8"));
  CHECK(basic_request_may_change_state(http::verb::delete_, " application/json "));
  // What a cross-site page can send without a preflight, and look-alikes.
  for (const char* type : {"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                           "application/jsonx", "application/json-seq", "application/x-json", "text/json", "json"}) {
    INFO(type);
    CHECK_FALSE(basic_request_may_change_state(http::verb::post, type));
    CHECK_FALSE(basic_request_may_change_state(http::verb::put, type));
  }
  CHECK(basic_request_may_change_state(http::verb::get, ""));
  CHECK(basic_request_may_change_state(http::verb::head, "text/plain"));
}
