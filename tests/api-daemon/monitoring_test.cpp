// The /admin/monitoring endpoints against a fake helper and a fake audit trail: each endpoint's
// answer (the original's shapes), its refusals, and what it asked of the helper.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <boost/json/parse.hpp>

#include "api-daemon/audit_queries.hpp"
#include "api-daemon/crypto.hpp"
#include "api-daemon/doors.hpp"
#include "api-daemon/log_endpoints.hpp"
#include "api-daemon/port_config.hpp"
#include "api-daemon/prometheus_export.hpp"
#include "tests/api-daemon/fakes.hpp"

using namespace smsbridge::api;
using namespace smsbridge::api::testing;
namespace json = boost::json;

namespace {
const std::pair<std::string, std::string> alice{"Authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5"};
const std::pair<std::string, std::string> json_type{"Content-Type", "application/json"};

// A settings file with the two doors, and a log directory, in a temporary directory of its own.
struct scratch {
  std::string dir;
  scratch() {
    char name[] = "/tmp/monitoring-test-XXXXXX";
    dir = ::mkdtemp(name);
    std::ofstream(dir + "/settings.json") << R"({"settings": {"monitoring_ports": {
      "metrics": {"port": 9100, "enabled": true, "description": "metrics"},
      "postgres": {"port": 5433, "enabled": true, "description": "db"},
      "redis": {"port": 6380, "enabled": false, "description": "cache"}}}})";
    std::filesystem::create_directories(dir + "/logs/postgres");
    std::ofstream(dir + "/logs/sms-bridge-api.log") << "line 1\nline 2\nline 3\n";
    std::ofstream(dir + "/logs/postgres/postgresql-2026-12-01.log") << "LOG: ready\n";
  }
  ~scratch() { std::filesystem::remove_all(dir); }
};

struct monitoring_site {
  scratch files;
  api_config config;
  fake_firewall helper;
  fake_admin_store admins;
  fake_audit_store trail;
  metrics stats;
  trusted_proxies proxies{{}};
  basic_auth auth{admins, {}};
  admin_gate gate{auth, admins, proxies};
  audit_drain audit{helper, trail, stats};
  std::unique_ptr<settings_source> settings;
  std::unique_ptr<server_address_source> address;
  std::unique_ptr<monitoring_context> context;
  router routes;

  monitoring_site() {
    REQUIRE(init_crypto());
    admins.admins["alice"] = admin_record{*hash_password("correct horse battery"), 1};
    config.settings_file = files.dir + "/settings.json";
    config.log_dir = files.dir + "/logs";
    config.server_ip = "203.0.113.50";
    config.database_url = "postgresql://sms_bridge@db/sms_bridge";
    settings = std::make_unique<settings_source>(config.settings_file);
    address = std::make_unique<server_address_source>(config.server_ip, helper);
    context = std::make_unique<monitoring_context>(monitoring_context{config, helper, *settings, audit, trail, gate, *address});
    add_door_routes(routes, *context);
    add_port_config_routes(routes, *context);
    add_audit_routes(routes, *context);
    add_log_routes(routes, *context);
    add_prometheus_export_route(routes, *context);
  }
  http_response get(const std::string& target) { return call(routes, http::verb::get, target, "", {alice}); }
  http_response post(const std::string& target, const std::string& body = "") {
    return call(routes, http::verb::post, target, body, {alice, json_type});
  }
};

json::object object_of(const http_response& r) { return json::parse(r.body()).as_object(); }
}  // namespace

TEST_CASE("open-port opens the door in one helper round trip and describes it; the trail follows") {
  monitoring_site s;
  auto r = s.post("/admin/monitoring/open-port", R"({"service": "metrics", "duration_minutes": 30})");
  REQUIRE(r.result() == http::status::ok);
  const auto body = object_of(r);
  CHECK(body.at("status") == "opened");
  CHECK(body.at("port").as_int64() == 9100);
  CHECK(body.at("source") == "198.51.100.7/32");  // the client's address by default
  CHECK(body.at("connection_info").at("prometheus_target") == "203.0.113.50:9100");
  REQUIRE(!s.helper.calls.empty());
  CHECK(s.helper.calls[0] == "open");
  CHECK(std::count(s.helper.calls.begin(), s.helper.calls.end(), "open") == 1);
  for (const auto& verb : s.helper.calls) CHECK((verb == "open" || verb == "events" || verb == "ack"));
  CHECK(s.trail.recorded.size() == 1);  // drained right after the answer
  const auto& g = s.helper.doors.at("metrics");
  CHECK(g.expires_at().seconds() - g.opened_at().seconds() == 1800);
  CHECK(g.opened_by() == "alice");
}

TEST_CASE("open-port refuses what it can check itself, maps the helper's refusals, and says when it is away") {
  monitoring_site s;
  CHECK(s.post("/admin/monitoring/open-port", "[]").result() == http::status::bad_request);
  CHECK(s.post("/admin/monitoring/open-port", R"({"service": ""})").result() == http::status::unprocessable_entity);
  CHECK(s.post("/admin/monitoring/open-port", R"({"service": "metrics", "duration_minutes": 5})").result() == http::status::unprocessable_entity);
  CHECK(s.post("/admin/monitoring/open-port", R"({"service": "metrics", "duration_minutes": 4611686018427387964})").result() ==
        http::status::unprocessable_entity);
  CHECK(s.post("/admin/monitoring/open-port", R"({"service": "metrics", "source": "example.org"})").result() ==
        http::status::unprocessable_entity);
  CHECK(s.post("/admin/monitoring/open-port", R"({"service": "nosuch"})").result() == http::status::not_found);
  CHECK(s.post("/admin/monitoring/open-port", R"({"service": "redis"})").result() == http::status::bad_request);  // disabled
  CHECK(std::count(s.helper.calls.begin(), s.helper.calls.end(), "open") == 0);  // none of these reached the helper

  s.helper.refuse_next = refusal{v1::SOURCE_NOT_ALLOWED, "0.0.0.0/0 is not allowed as a source.", false};
  auto refused_source = s.post("/admin/monitoring/open-port", R"({"service": "metrics", "source": "0.0.0.0/0"})");
  CHECK(refused_source.result() == http::status::unprocessable_entity);
  CHECK(object_of(refused_source).at("detail") == "0.0.0.0/0 is not allowed as a source.");
  s.helper.refuse_next = refusal{v1::NFT_FAILED, "netlink: Operation not permitted", false};
  auto kernel = s.post("/admin/monitoring/open-port", R"({"service": "metrics"})");
  CHECK(kernel.result() == http::status::bad_gateway);
  CHECK(object_of(kernel).at("detail") == "The firewall helper could not carry out the request.");  // no kernel detail leaks
  s.helper.down = true;
  auto away = s.post("/admin/monitoring/open-port", R"({"service": "metrics"})");
  CHECK(away.result() == http::status::service_unavailable);
  CHECK(object_of(away).at("detail") == "The firewall helper is not reachable.");
}

TEST_CASE("an already open door answers 200 with the live door and the original's message") {
  monitoring_site s;
  REQUIRE(s.post("/admin/monitoring/open-port", R"({"service": "postgres"})").result() == http::status::ok);
  auto again = s.post("/admin/monitoring/open-port", R"({"service": "postgres", "duration_minutes": 240})");
  REQUIRE(again.result() == http::status::ok);
  const auto body = object_of(again);
  CHECK(body.at("status") == "already_open");
  CHECK(body.at("message") == "Port is already open");
  CHECK(body.at("connection_info").at("username") == "sms_bridge");
  CHECK(body.at("connection_info").at("connection_string") == "postgresql://sms_bridge:****@203.0.113.50:5433/sms_bridge");
  CHECK(!body.contains("internal_port"));
  CHECK(!body.contains("container"));
}

TEST_CASE("port-status and services: the original's maps, with time_remaining as H:MM:SS") {
  monitoring_site s;
  REQUIRE(s.post("/admin/monitoring/open-port", R"({"service": "metrics", "duration_minutes": 60})").result() == http::status::ok);
  auto status = object_of(s.get("/admin/monitoring/port-status"));
  REQUIRE(status.contains("metrics"));
  CHECK(status.size() == 1);
  const std::string remaining(status.at("metrics").at("time_remaining").as_string());
  CHECK((remaining == "1:00:00" || remaining == "0:59:59"));
  CHECK(status.at("metrics").at("opened_by") == "alice");
  auto services = object_of(s.get("/admin/monitoring/services"));
  CHECK(services.at("services").at("metrics").at("status") == "open");
  CHECK(services.at("services").at("postgres").at("status") == "closed");
  CHECK(services.at("services").at("redis").at("enabled") == false);
  CHECK(services.at("active_ports").as_object().contains("metrics"));
  CHECK(services.at("timestamp").as_string().ends_with("Z"));
  s.helper.down = true;
  auto down = object_of(s.get("/admin/monitoring/services"));
  CHECK(down.at("services").at("metrics").at("status") == "unknown");
  CHECK(down.at("firewall_helper") == "down");
  CHECK(s.get("/admin/monitoring/port-status").result() == http::status::service_unavailable);
}

TEST_CASE("close-port closes with the reason given, 404 for a closed door; open-all and close-all report each door") {
  monitoring_site s;
  CHECK(s.post("/admin/monitoring/close-port", R"({"service": "metrics"})").result() == http::status::not_found);
  auto all = s.post("/admin/monitoring/open-all?duration_minutes=15");
  REQUIRE(all.result() == http::status::ok);
  const auto opened = object_of(all);
  CHECK(opened.at("status") == "completed");
  CHECK(opened.at("results").at("metrics").at("status") == "opened");
  CHECK(opened.at("results").at("postgres").at("status") == "opened");
  CHECK(!opened.at("results").as_object().contains("redis"));  // disabled doors are not opened
  CHECK(s.post("/admin/monitoring/close-port", R"({"service": "metrics", "reason": "done here"})").result() == http::status::ok);
  CHECK(s.helper.journal.empty());
  CHECK(s.trail.recorded.back().reason() == "done here");
  auto closed = object_of(s.post("/admin/monitoring/close-all"));
  CHECK(closed.at("status") == "completed");
  CHECK(closed.at("closed").as_array().size() == 1);
  CHECK(closed.at("closed").as_array()[0] == "postgres");
  CHECK(closed.at("errors").is_null());
  CHECK(s.helper.doors.empty());
  // A door that does not open is an {error} entry, and the others still open.
  s.helper.busy_ports.clear();
  s.helper.doors["metrics"] = v1::Grant{};
  auto partly = object_of(s.post("/admin/monitoring/open-all", R"({"duration_minutes": 15})"));
  CHECK(partly.at("results").at("metrics").at("status") == "already_open");
  CHECK(partly.at("results").at("postgres").at("status") == "opened");
}

TEST_CASE("port-config: read, refused while a door is open or when wrong, written when right, reset to the defaults") {
  monitoring_site s;
  auto current = object_of(s.get("/admin/monitoring/port-config"));
  CHECK(current.at("current_config").at("metrics").at("port").as_int64() == 9100);
  CHECK(current.at("active_ports").as_array().empty());
  CHECK(current.at("version") == SMS_BRIDGE_VERSION);

  const auto change = [&](const std::string& config) { return s.post("/admin/monitoring/port-config", R"({"config": )" + config + "}"); };
  auto unknown = change(R"({"grafana": {"port": 9200, "enabled": true}})");
  CHECK(unknown.result() == http::status::unprocessable_entity);
  CHECK(object_of(unknown).at("field") == "grafana.port");
  CHECK(change(R"({"metrics": {"port": 80, "enabled": true}})").result() == http::status::unprocessable_entity);
  CHECK(change(R"({"metrics": {"port": 9300, "enabled": true}, "postgres": {"port": 9300, "enabled": true}})").result() ==
        http::status::unprocessable_entity);
  s.helper.busy_ports[9301] = "listening";
  auto busy = change(R"({"metrics": {"port": 9301, "enabled": true}})");
  CHECK(busy.result() == http::status::unprocessable_entity);
  CHECK(object_of(busy).at("detail") == "Port 9301 cannot be used: listening.");

  auto saved = change(R"({"metrics": {"port": 9302, "enabled": true, "description": "m"}})");
  REQUIRE(saved.result() == http::status::ok);
  CHECK(object_of(saved).at("status") == "success");
  CHECK(load_monitoring_ports(s.config.settings_file)->at("metrics").port == 9302);
  CHECK(object_of(s.get("/admin/monitoring/port-config")).at("current_config").at("metrics").at("port").as_int64() == 9302);

  REQUIRE(s.post("/admin/monitoring/open-port", R"({"service": "metrics"})").result() == http::status::ok);
  auto while_open = change(R"({"metrics": {"port": 9303, "enabled": true}})");
  CHECK(while_open.result() == http::status::conflict);
  CHECK(object_of(while_open).at("open_ports").as_array().size() == 1);
  CHECK(s.post("/admin/monitoring/port-config/reset").result() == http::status::conflict);
  REQUIRE(s.post("/admin/monitoring/close-all").result() == http::status::ok);
  auto reset = s.post("/admin/monitoring/port-config/reset");
  REQUIRE(reset.result() == http::status::ok);
  CHECK(object_of(reset).at("status") == "reset");
  CHECK(load_monitoring_ports(s.config.settings_file)->at("metrics").port == 9100);  // the seed's default, for known services
}

TEST_CASE("available-ports scans within bounds and reports the original's scanned_range and count") {
  monitoring_site s;
  s.helper.busy_ports[9001] = "listening";
  auto r = object_of(s.get("/admin/monitoring/port-config/available-ports?start=9000&end=9010&count=3"));
  CHECK(r.at("available_ports").as_array() == json::array{9000, 9002, 9003});
  CHECK(r.at("scanned_range") == "9000-9010");
  CHECK(r.at("count").as_int64() == 3);
  CHECK(s.get("/admin/monitoring/port-config/available-ports?start=80").result() == http::status::unprocessable_entity);
  CHECK(s.get("/admin/monitoring/port-config/available-ports?end=70000").result() == http::status::unprocessable_entity);
  CHECK(s.get("/admin/monitoring/port-config/available-ports?count=x").result() == http::status::unprocessable_entity);
}

TEST_CASE("history and audit drain the helper first, check their filters, and say when the trail is away") {
  monitoring_site s;
  run(s.helper.open({"metrics", 9100, "10.0.0.2/32", 900, "alice"})).value();  // an event not yet drained
  s.trail.history = R"([{"service": "metrics", "status": "open"}])";
  auto history = s.get("/admin/monitoring/history?limit=5&service=metrics");
  REQUIRE(history.result() == http::status::ok);
  CHECK(s.trail.recorded.size() == 1);  // drained before the read
  CHECK(object_of(history).at("history").as_array().size() == 1);
  REQUIRE(s.trail.asked.size() == 1);
  CHECK(s.trail.asked[0].limit == 5);
  CHECK(s.trail.asked[0].service == std::optional<std::string>("metrics"));
  CHECK(object_of(s.get("/admin/monitoring/audit")).at("events").as_array().empty());
  CHECK(s.get("/admin/monitoring/audit?action=deleted").result() == http::status::unprocessable_entity);
  CHECK(s.get("/admin/monitoring/history?limit=0").result() == http::status::unprocessable_entity);
  CHECK(s.get("/admin/monitoring/history?limit=1001").result() == http::status::unprocessable_entity);
  s.trail.down = true;
  CHECK(s.get("/admin/monitoring/history").result() == http::status::service_unavailable);
}

TEST_CASE("logs: listed by the original's services, downloaded by service or by name, with a tail") {
  monitoring_site s;
  auto list = object_of(s.get("/admin/monitoring/logs/list"));
  CHECK(list.at("logs").as_object().contains("application"));
  CHECK(list.at("logs").at("postgres").at("size").as_int64() == 11);
  CHECK(!list.at("logs").as_object().contains("redis"));
  auto app = s.get("/admin/monitoring/logs/download/application?tail=2");
  REQUIRE(app.result() == http::status::ok);
  CHECK(app.body() == "line 2\nline 3\n");
  CHECK(std::string(app[http::field::content_disposition]).find("application-") != std::string::npos);
  CHECK(s.get("/admin/monitoring/logs/download/postgres").body() == "LOG: ready\n");
  CHECK(s.get("/admin/monitoring/logs/download/redis").result() == http::status::not_found);
  CHECK(s.get("/admin/monitoring/logs/download/sms-bridge-api.log").result() == http::status::ok);
  CHECK(s.get("/admin/monitoring/logs/download/..%2Fsettings.json").result() == http::status::not_found);
  CHECK(s.get("/admin/monitoring/logs/download/application?tail=0").result() == http::status::unprocessable_entity);
}

TEST_CASE("export-prometheus-config scrapes the enabled doors at the address laptops use") {
  monitoring_site s;
  auto r = s.get("/admin/monitoring/export-prometheus-config");
  REQUIRE(r.result() == http::status::ok);
  CHECK(r[http::field::content_type] == "application/yaml");
  CHECK(r.body().find("targets: ['203.0.113.50:9100']") != std::string::npos);
  CHECK(r.body().find("server: '203.0.113.50:5433'") != std::string::npos);
}

TEST_CASE("with SERVER_IP auto, the address is the helper's host's, asked at most once a minute") {
  monitoring_site s;
  s.config.server_ip = "auto";
  server_address_source address("auto", s.helper);
  CHECK(run(address.get()) == "203.0.113.10");
  CHECK(run(address.get()) == "203.0.113.10");
  CHECK(std::count(s.helper.calls.begin(), s.helper.calls.end(), "status") == 1);
}
