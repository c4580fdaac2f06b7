// docs/openapi.yaml against the route tables: every (method, path) both listeners serve is
// documented, and every documented one is served, so the document cannot drift from the code.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>

#include "api-daemon/openapi.hpp"
#include "api-daemon/routes.hpp"
#include "tests/api-daemon/fakes.hpp"

using namespace smsbridge::api;

namespace {
using operation = std::pair<std::string, std::string>;  // ("get", "/admin/blacklist/{mobile_number}")

// A table path in the document's notation: the router's one-segment wildcard "/*" is the
// document's trailing "/{parameter}", whatever the parameter is called.
std::string table_path(std::string_view documented) {
  std::string path(documented);
  if (path.ends_with("}")) {
    const auto open = path.rfind("/{");
    if (open != std::string::npos) path = path.substr(0, open) + "/*";
  }
  return path;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::set<operation> documented_operations() {
  const auto document = boost::json::parse(openapi_json()).as_object();
  std::set<operation> out;
  for (const auto& [path, item] : document.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      if (method == "servers" || method == "parameters" || method == "summary" || method == "description") continue;
      out.emplace(std::string(method), table_path(path));
    }
  }
  return out;
}

std::set<operation> served_operations(const router& r) {
  std::set<operation> out;
  for (const auto& [verb, path] : r.routes()) out.emplace(lower(http::to_string(verb)), path);
  return out;
}

// The daemon's parts with every optional table mounted: monitoring on, both SMS secrets set.
struct full_daemon {
  api_config config = [] {
    api_config c;
    c.database_url = "postgresql:///unused?host=/nonexistent";
    c.firewall_socket = "/nonexistent/firewall.sock";
    c.hmac_secret = "0123456789abcdef0123";
    c.sms_api_key = "0123456789abcdef0123";
    c.monitoring_enabled = true;
    return c;
  }();
  testing::fake_firewall helper;
  testing::fake_admin_store admins;
  testing::fake_audit_store audit_store;
  testing::fake_outbox_store outbox;
  testing::fake_sms_store sms_store;
  testing::fake_backend backend;
  settings_source settings{"/nonexistent/sms_settings.json"};
  const trusted_proxies proxies{{}};
  basic_auth auth{admins, {}};
  admin_gate gate{auth, admins, proxies};
  metrics stats;
  health_monitor health{helper, outbox};
  audit_drain audit{helper, audit_store, stats};
  sms_api_context sms{sms_store, settings, proxies, stats, config.hmac_secret, config.sms_api_key, 60};
  server_address_source address{config.server_ip, helper};
  testing::fake_notification_store notifications;
  monitoring_context monitoring{config, helper, settings, audit, audit_store, gate, address, &notifications};
  metrics_history history{history_config{0, 60, ""}};
  route_parts parts{config, gate, health, helper, stats, sms, backend, monitoring, history};
};
}  // namespace

TEST_CASE("the OpenAPI document and the two route tables name the same operations") {
  full_daemon daemon;
  std::set<operation> served = served_operations(public_routes(daemon.parts));
  const std::set<operation> metrics = served_operations(metrics_routes(daemon.parts));
  served.insert(metrics.begin(), metrics.end());  // /health is on both listeners, documented once
  REQUIRE(served.size() >= 30);
  const std::set<operation> documented = documented_operations();
  for (const auto& [method, path] : served) {
    INFO("served but not in docs/openapi.yaml: " << method << " " << path);
    CHECK(documented.count({method, path}) == 1);
  }
  for (const auto& [method, path] : documented) {
    INFO("in docs/openapi.yaml but served by no route: " << method << " " << path);
    CHECK(served.count({method, path}) == 1);
  }
}

TEST_CASE("the document's wildcard paths map onto the router's one-segment wildcard") {
  CHECK(table_path("/admin/blacklist/{mobile_number}") == "/admin/blacklist/*");
  CHECK(table_path("/admin/monitoring/logs/download/{name}") == "/admin/monitoring/logs/download/*");
  CHECK(table_path("/admin/session") == "/admin/session");
}

TEST_CASE("GET /admin/openapi.json serves the embedded document as JSON without a login") {
  router r;
  add_openapi_route(r);
  const auto m = r.find(http::verb::get, "/admin/openapi.json");
  REQUIRE(m.found != nullptr);
  boost::asio::io_context io;
  http_request request{http::verb::get, "/admin/openapi.json", 11};
  const request_context context{"192.0.2.7"};
  auto answer = boost::asio::co_spawn(io, (*m.found)(request, context), boost::asio::use_future);
  io.run();
  const http_response response = answer.get();
  CHECK(response.result() == http::status::ok);
  CHECK(response[http::field::content_type] == "application/json");
  CHECK(response[http::field::x_frame_options] == "DENY");
  const auto served = boost::json::parse(response.body()).as_object();
  CHECK(served.at("openapi").as_string().starts_with("3.0."));
  CHECK(served.at("paths").as_object().contains("/admin/openapi.json"));
}
