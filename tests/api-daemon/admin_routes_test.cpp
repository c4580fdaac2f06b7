// The route table itself proves the admin gate: every /admin route but login answers 401 to a
// request without credentials (asked of the real table, so a new route cannot slip past).
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "api-daemon/routes.hpp"

using namespace smsbridge::api;

TEST_CASE("every /admin route except login refuses a request without credentials with 401") {
  api_config config;
  config.database_url = "postgresql:///unused?host=/nonexistent";  // never reached: no credentials, no lookup
  config.firewall_socket = "/nonexistent/firewall.sock";
  config.hmac_secret = "0123456789abcdef0123";  // so that the SMS API's admin routes are mounted too
  config.sms_api_key = "0123456789abcdef0123";
  database db(config.database_url);
  worker helper_thread(1);
  basic_auth auth(db, {});
  metrics stats;
  worker delivery_thread(1);
  app a{config, db, helper_thread, delivery_thread, auth, stats, [](std::string_view) {}, {}, false, false};
  const router routes = public_routes(a);
  boost::asio::io_context io;
  int admin_routes = 0;
  for (const auto& [verb, path] : routes.routes()) {
    if (path.rfind("/admin/", 0) != 0 || path == "/admin/login") continue;
    ++admin_routes;
    std::string target = path;
    if (target.ends_with("/*")) target.replace(target.size() - 1, 1, "x.log");
    http_request request{verb, target, 11};
    request.body() = R"({"service": "metrics"})";
    request.prepare_payload();
    const auto m = routes.find(verb, target);
    REQUIRE(m.found != nullptr);
    auto answer = boost::asio::co_spawn(io, (*m.found)(request, request_context{"127.0.0.1"}), boost::asio::use_future);
    io.run();
    io.restart();
    const http_response response = answer.get();
    INFO(std::string(http::to_string(verb)) << " " << path);
    CHECK(response.result() == http::status::unauthorized);
    CHECK(response.body() == R"({"detail":"Valid admin credentials are required."})");
    CHECK(response[http::field::www_authenticate].starts_with("Basic"));
  }
  CHECK(admin_routes >= 22);  // 14 monitoring routes, session, logout, trigger-recovery, SMS settings and blacklist
}
