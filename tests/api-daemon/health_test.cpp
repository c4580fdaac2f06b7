// /health and /metrics against a fake helper and a fake database.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include <chrono>
#include <thread>

#include "api-daemon/health.hpp"
#include "common/build_info.hpp"
#include "tests/api-daemon/fakes.hpp"
#include "tests/common/fake_notifier.hpp"

using namespace smsbridge::api;
using namespace smsbridge::api::testing;

namespace {
struct health_site {
  fake_firewall helper;
  fake_outbox_store outbox;
  fake_sms_store sms;
  metrics stats;
  health_monitor health{helper, outbox};
  router routes;
  health_site() {
    routes.add(http::verb::get, "/health", health_endpoint(health));
    routes.add(http::verb::get, "/metrics", metrics_endpoint(health, helper, &sms, stats));
  }
  std::string status_of() { return std::string(boost::json::parse(call(routes, http::verb::get, "/health").body()).at("status").as_string()); }
};
}  // namespace

TEST_CASE("/health: healthy, degraded without the helper or with a failing backend, unhealthy (503) without the database") {
  {
    health_site s;
    CHECK(s.status_of() == "healthy");
  }
  {
    health_site s;
    s.helper.down = true;
    CHECK(s.status_of() == "degraded");
  }
  {
    health_site s;
    s.outbox.state = "failing";
    CHECK(s.status_of() == "degraded");
  }
  {
    health_site s;
    s.outbox.down = true;
    auto r = call(s.routes, http::verb::get, "/health");
    CHECK(r.result() == http::status::service_unavailable);
    CHECK(boost::json::parse(r.body()).at("checks").at("database") == "down");
  }
}

TEST_CASE("/health asks the helper and the database at most once a second") {
  health_site s;
  for (int i = 0; i < 20; ++i) call(s.routes, http::verb::get, "/health");
  CHECK(std::count(s.helper.calls.begin(), s.helper.calls.end(), "status") == 1);
}

TEST_CASE("/health's body: the checks and the second it describes, in the original's shape") {
  CHECK(health_body(true, false, "ok", 1'800'000'000) ==
        R"({"status":"degraded","checks":{"database":"up","firewall_helper":"down","backend_sync":"ok"},"database":"up",)"
        R"("firewall_helper":"down","version":")" SMS_BRIDGE_VERSION R"(","timestamp":"2027-01-15T08:00:00Z"})");
  CHECK(boost::json::parse(health_body(false, true, "unknown", 0)).at("status") == "unhealthy");
  CHECK(boost::json::parse(health_body(true, true, "failing", 0)).at("status") == "degraded");
}

TEST_CASE("/health's kept body follows the checks once they are refreshed, within its second") {
  health_site s;
  router held;  // its body's clock stays in one second: only a change of the checks renews it
  held.add(http::verb::get, "/health", health_endpoint(s.health, [] { return std::time_t{1'800'000'000}; }));
  const auto first = call(held, http::verb::get, "/health");
  CHECK(boost::json::parse(first.body()).at("status") == "healthy");
  CHECK(call(held, http::verb::get, "/health").body() == first.body());
  s.helper.down = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the checks are refreshed at most once a second
  const auto r = call(held, http::verb::get, "/health");
  const auto body = boost::json::parse(r.body());
  CHECK(body.at("status") == "degraded");
  CHECK(body.at("firewall_helper") == "down");
  CHECK(r[http::field::content_length] == std::to_string(r.body().size()));
}

TEST_CASE("/metrics serves the doors per service, the helper and the SMS gauges") {
  health_site s;
  run(s.helper.open({"metrics", 9100, "10.0.0.2/32", 900, "alice", ""})).value();
  s.sms.tables.blacklist.push_back("+919876543210");
  auto r = call(s.routes, http::verb::get, "/metrics");
  REQUIRE(r.result() == http::status::ok);
  const std::string& text = r.body();
  CHECK(text.find(R"(sms_bridge_monitoring_doors_open{service="metrics"} 1)") != std::string::npos);
  CHECK(text.find(R"(sms_bridge_monitoring_doors_open{service="postgres"} 0)") != std::string::npos);
  CHECK(text.find("sms_bridge_firewall_helper_up 1") != std::string::npos);
  CHECK(text.find("sms_bridge_blacklist_size 1") != std::string::npos);
  // /health and /metrics share one check of the helper's status (at most once a second).
  call(s.routes, http::verb::get, "/health");
  call(s.routes, http::verb::get, "/metrics");
  CHECK(std::count(s.helper.calls.begin(), s.helper.calls.end(), "status") == 1);
}

TEST_CASE("the service manager's status line names the database, the helper and, while it answers, the doors open") {
  CHECK(status_line(true, true, 2) == "database up, firewall helper up, 2 doors open");
  CHECK(status_line(true, true, 1) == "database up, firewall helper up, 1 door open");
  CHECK(status_line(false, true, 0) == "database down, firewall helper up, 0 doors open");
  CHECK(status_line(true, false, 3) == "database up, firewall helper down");
}

TEST_CASE("report_status tells the service manager the shared check's state, and again when it changes") {
  health_site s;
  boost::asio::io_context io(1);
  smsbridge::testing::fake_notifier manager;
  smsbridge::service_state state(io.get_executor(), manager, std::nullopt, std::chrono::milliseconds(0));
  boost::asio::co_spawn(io, report_status(s.health, state, std::chrono::milliseconds(20)), boost::asio::detached);
  io.run_for(std::chrono::milliseconds(100));
  REQUIRE(manager.messages.size() == 1);  // the same state is not said again every 20 ms
  CHECK(manager.messages[0] == "STATUS=database up, firewall helper up, 0 doors open");
  run(s.helper.open({"metrics", 9100, "10.0.0.2/32", 900, "alice", ""})).value();
  io.restart();
  io.run_for(std::chrono::milliseconds(1200));  // the shared check asks again after a second
  REQUIRE(manager.messages.size() == 2);
  CHECK(manager.messages[1] == "STATUS=database up, firewall helper up, 1 door open");
  s.outbox.down = true;
  s.helper.down = true;
  io.restart();
  io.run_for(std::chrono::milliseconds(1200));
  REQUIRE(manager.messages.size() == 3);
  CHECK(manager.messages[2] == "STATUS=database down, firewall helper down");
}

TEST_CASE("/metrics exports the helper's counters and nft latency, the build and the standard process metrics") {
  health_site s;
  s.helper.counters.set_opens(7);
  s.helper.counters.set_refusals(2);
  for (double bound : {0.001, 0.01}) s.helper.nft_batch_seconds.add_upper_bounds(bound);
  for (std::uint64_t count : {3u, 5u}) s.helper.nft_batch_seconds.add_counts(count);
  s.helper.nft_batch_seconds.set_count(6);
  s.helper.nft_batch_seconds.set_sum(0.25);
  auto r = call(s.routes, http::verb::get, "/metrics");
  REQUIRE(r.result() == http::status::ok);
  const std::string& text = r.body();
  const std::string build_info = "sms_bridge_build_info{revision=\"" + std::string(smsbridge::build_revision()) +
                                 "\",version=\"" SMS_BRIDGE_VERSION "\"} 1\n";
  for (const char* line : {"sms_bridge_firewall_helper_opens_total 7\n", "sms_bridge_firewall_helper_refusals_total 2\n",
                           "# TYPE sms_bridge_firewall_helper_nft_batch_seconds histogram\n",
                           "sms_bridge_firewall_helper_nft_batch_seconds_bucket{le=\"0.001\"} 3\n",
                           "sms_bridge_firewall_helper_nft_batch_seconds_bucket{le=\"0.01\"} 5\n",
                           "sms_bridge_firewall_helper_nft_batch_seconds_bucket{le=\"+Inf\"} 6\n",
                           "sms_bridge_firewall_helper_nft_batch_seconds_sum 0.25\n",
                           "sms_bridge_firewall_helper_nft_batch_seconds_count 6\n",
                           build_info.c_str(), "process_resident_memory_bytes ",
                           "process_cpu_seconds_total ", "process_start_time_seconds ", "process_open_fds ", "process_max_fds "}) {
    INFO(line);
    CHECK(text.find(line) != std::string::npos);
  }
  // Without the helper there is nothing of it to export but that it is down.
  s.helper.down = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // /metrics asks the helper at most once a second
  const std::string down = call(s.routes, http::verb::get, "/metrics").body();
  CHECK(down.find("sms_bridge_firewall_helper_up 0") != std::string::npos);
  CHECK(down.find("sms_bridge_firewall_helper_opens_total") == std::string::npos);
}

TEST_CASE("each answered request is counted in its route, method and code, and timed in its route") {
  metrics stats;
  stats.observe_request("/health", "GET", 200, 0.0002);
  stats.observe_request("/health", "GET", 200, 0.003);
  stats.observe_request("/health", "GET", 503, 0.0004);
  stats.observe_request("/admin/login", "POST", 401, 0.2);
  const std::string text = stats.render();
  CHECK(text.find("sms_bridge_http_requests_total{code=\"200\",method=\"GET\",route=\"/health\"} 2") != std::string::npos);
  CHECK(text.find("sms_bridge_http_requests_total{code=\"503\",method=\"GET\",route=\"/health\"} 1") != std::string::npos);
  CHECK(text.find("sms_bridge_http_requests_total{code=\"401\",method=\"POST\",route=\"/admin/login\"} 1") != std::string::npos);
  CHECK(text.find("sms_bridge_http_request_duration_seconds_count{route=\"/health\"} 3") != std::string::npos);
  CHECK(text.find("sms_bridge_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.0005\"} 2") != std::string::npos);
  CHECK(text.find("sms_bridge_http_request_duration_seconds_count{route=\"/admin/login\"} 1") != std::string::npos);
}
