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
  // Both doors in one helper request: one nft batch and one journal write, not one per door.
  CHECK(std::count(s.helper.calls.begin(), s.helper.calls.end(), "open-many") == 1);
  CHECK(std::count(s.helper.calls.begin(), s.helper.calls.end(), "open") == 0);
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
  // A helper that cannot be reached: every door says so, and the answer is still the per-door report.
  s.helper.doors.clear();
  s.helper.down = true;
  auto away = object_of(s.post("/admin/monitoring/open-all", R"({"duration_minutes": 15})"));
  CHECK(away.at("results").at("metrics").at("status") == "error");
  CHECK(away.at("results").at("postgres").at("status") == "error");
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
  run(s.helper.open({"metrics", 9100, "10.0.0.2/32", 900, "alice", ""})).value();  // an event not yet drained
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

TEST_CASE("export-prometheus-config with ?servers= scrapes every server of a deployment, this one first") {
  monitoring_site s;
  auto r = s.get("/admin/monitoring/export-prometheus-config?servers=198.51.100.7%2C203.0.113.50,2001:db8::9");
  REQUIRE(r.result() == http::status::ok);
  const std::string& yaml = r.body();
  const auto self = yaml.find("targets: ['203.0.113.50:9100']");
  const auto other = yaml.find("targets: ['198.51.100.7:9100']");
  REQUIRE(self != std::string::npos);
  REQUIRE(other != std::string::npos);
  CHECK(self < other);
  CHECK(yaml.find("targets: ['[2001:db8::9]:9100']") != std::string::npos);
  CHECK(yaml.find("server: '198.51.100.7'") != std::string::npos);
  CHECK(yaml.find("targets: ['203.0.113.50:9100']", self + 1) == std::string::npos);  // listed twice, scraped once
  // The database is one: its exporter still goes through this server's door only.
  CHECK(yaml.find("198.51.100.7:5433") == std::string::npos);

  auto bad = s.get("/admin/monitoring/export-prometheus-config?servers=198.51.100.7,db.example");
  CHECK(bad.result() == http::status::unprocessable_entity);
  CHECK(bad.body().find("'db.example' is not one") != std::string::npos);
}

TEST_CASE("scrape_servers keeps at most sixteen servers and one spelling of each") {
  const auto listed = [](const char* self, std::optional<std::string> list) {
    auto servers = scrape_servers(self, list);
    REQUIRE(servers.has_value());
    return *servers;
  };
  CHECK(listed("10.0.0.1", std::nullopt) == std::vector<std::string>{"10.0.0.1"});
  CHECK(listed("10.0.0.1", ",10.0.0.2,,2001:DB8::1,") == std::vector<std::string>{"10.0.0.1", "10.0.0.2", "2001:db8::1"});
  std::string fifteen;
  for (int i = 2; i <= 16; ++i) fifteen += fmt::format("10.0.0.{},", i);
  CHECK(listed("10.0.0.1", fifteen).size() == 16);
  const auto too_many = scrape_servers("10.0.0.1", fifteen + "10.0.0.17");
  REQUIRE_FALSE(too_many.has_value());
  CHECK(too_many.error().message == "'servers' lists at most 16 servers.");
}

TEST_CASE("with SERVER_IP auto, the address is the helper's host's, asked at most once a minute") {
  monitoring_site s;
  s.config.server_ip = "auto";
  server_address_source address("auto", s.helper);
  CHECK(run(address.get()) == "203.0.113.10");
  CHECK(run(address.get()) == "203.0.113.10");
  CHECK(std::count(s.helper.calls.begin(), s.helper.calls.end(), "status") == 1);
}

// ---- extend-port, reasons, the kernel's deadline ----------------------------------------------

TEST_CASE("extend-port sets the deadline to now + the duration, longer or shorter, and answers the old one") {
  monitoring_site s;
  REQUIRE(s.post("/admin/monitoring/open-port", R"({"service": "metrics", "duration_minutes": 30, "reason": "disk alert"})").result() ==
          http::status::ok);
  const auto before = s.helper.doors.at("metrics").expires_at();
  auto longer = s.post("/admin/monitoring/extend-port", R"({"service": "metrics", "duration_minutes": 120, "reason": "still digging"})");
  REQUIRE(longer.result() == http::status::ok);
  const auto body = object_of(longer);
  CHECK(body.at("status") == "extended");
  CHECK(body.at("service") == "metrics");
  CHECK(body.at("port").as_int64() == 9100);
  CHECK(body.at("previous_expires_at").as_string() == iso(before));
  CHECK(body.at("expires_at").as_string() == iso(s.helper.doors.at("metrics").expires_at()));
  CHECK(body.at("reason") == "still digging");
  CHECK(body.at("duration_seconds").as_int64() == 7200);
  CHECK(body.at("opened_by") == "alice");
  CHECK(body.at("connection_info").at("prometheus_target") == "203.0.113.50:9100");
  const auto& g = s.helper.doors.at("metrics");
  const auto now = TimeUtil::TimestampToSeconds(TimeUtil::GetCurrentTime());
  CHECK(std::abs(g.expires_at().seconds() - (now + 7200)) <= 2);
  // The trail got the EXTENDED event with who, why and the old deadline.
  REQUIRE(s.trail.recorded.size() == 2);
  CHECK(s.trail.recorded[1].kind() == v1::EXTENDED);
  CHECK(s.trail.recorded[1].actor() == "alice");
  CHECK(s.trail.recorded[1].reason() == "still digging");
  CHECK(s.trail.recorded[1].previous_expires_at().seconds() == before.seconds());

  auto shorter = s.post("/admin/monitoring/extend-port", R"({"service": "metrics", "duration_seconds": 900})");
  REQUIRE(shorter.result() == http::status::ok);
  CHECK(object_of(shorter).at("reason").is_null());
  CHECK(std::abs(s.helper.doors.at("metrics").expires_at().seconds() - (now + 900)) <= 2);
  // The reason given at the open stays the door's.
  CHECK(object_of(s.get("/admin/monitoring/port-status")).at("metrics").at("reason") == "disk alert");
}

TEST_CASE("extend-port: 404 for a closed or unknown door, 422 for bad input, the helper's refusals mapped") {
  monitoring_site s;
  auto closed = s.post("/admin/monitoring/extend-port", R"({"service": "metrics", "duration_minutes": 30})");
  CHECK(closed.result() == http::status::not_found);
  CHECK(object_of(closed).at("detail") == "The door of 'metrics' is not open: open it with open-port instead.");
  CHECK(s.post("/admin/monitoring/extend-port", R"({"service": "nosuch", "duration_minutes": 30})").result() == http::status::not_found);
  CHECK(s.post("/admin/monitoring/extend-port", R"({"service": "redis", "duration_minutes": 30})").result() == http::status::bad_request);
  CHECK(s.post("/admin/monitoring/extend-port", "[]").result() == http::status::bad_request);
  CHECK(s.post("/admin/monitoring/extend-port", R"({"duration_minutes": 30})").result() == http::status::unprocessable_entity);
  auto no_duration = s.post("/admin/monitoring/extend-port", R"({"service": "metrics"})");
  CHECK(no_duration.result() == http::status::unprocessable_entity);
  CHECK(std::string(object_of(no_duration).at("detail").as_string()).find("duration_minutes") != std::string::npos);
  // The bounds of open-port (SMS_BRIDGE_PORT_{MIN,MAX}_DURATION_SECONDS: 900..14400).
  CHECK(s.post("/admin/monitoring/extend-port", R"({"service": "metrics", "duration_minutes": 14})").result() ==
        http::status::unprocessable_entity);
  CHECK(s.post("/admin/monitoring/extend-port", R"({"service": "metrics", "duration_seconds": 14401})").result() ==
        http::status::unprocessable_entity);
  CHECK(s.post("/admin/monitoring/extend-port", R"({"service": "metrics", "duration_minutes": "30"})").result() ==
        http::status::unprocessable_entity);
  CHECK(std::count(s.helper.calls.begin(), s.helper.calls.end(), "extend") == 1);  // only the closed door reached it

  REQUIRE(s.post("/admin/monitoring/open-port", R"({"service": "metrics"})").result() == http::status::ok);
  s.helper.max_duration = 1000;  // the helper's own bounds are narrower
  auto helper_bounds = s.post("/admin/monitoring/extend-port", R"({"service": "metrics", "duration_minutes": 60})");
  CHECK(helper_bounds.result() == http::status::unprocessable_entity);
  CHECK(object_of(helper_bounds).at("detail") == "The duration is outside the helper's bounds.");
  s.helper.down = true;
  CHECK(s.post("/admin/monitoring/extend-port", R"({"service": "metrics", "duration_minutes": 15})").result() ==
        http::status::service_unavailable);
  // Without credentials it is refused like every admin endpoint.
  CHECK(call(s.routes, http::verb::post, "/admin/monitoring/extend-port", R"({"service": "metrics", "duration_minutes": 15})",
             {json_type})
            .result() == http::status::unauthorized);
}

TEST_CASE("a reason: at most 200 printable characters, passed to the helper and into the trail") {
  monitoring_site s;
  const std::string two_hundred(200, 'r');
  auto ok = s.post("/admin/monitoring/open-port", R"({"service": "metrics", "reason": ")" + two_hundred + R"("})");
  REQUIRE(ok.result() == http::status::ok);
  CHECK(object_of(ok).at("reason").as_string() == two_hundred);
  CHECK(s.helper.doors.at("metrics").reason() == two_hundred);
  CHECK(s.trail.recorded.back().reason() == two_hundred);
  REQUIRE(s.post("/admin/monitoring/close-port", R"({"service": "metrics"})").result() == http::status::ok);

  const auto refused_with = [&](const std::string& reason_json) {
    auto r = s.post("/admin/monitoring/open-port", R"({"service": "metrics", "reason": )" + reason_json + "}");
    CHECK(r.result() == http::status::unprocessable_entity);
    return r.result() == http::status::unprocessable_entity ? std::string(object_of(r).at("detail").as_string()) : std::string();
  };
  CHECK(refused_with("\"" + std::string(201, 'r') + "\"") == "'reason' must be at most 200 characters; this one has 201.");
  CHECK(refused_with(R"("line one\nline two")").find("control characters") != std::string::npos);
  CHECK(refused_with(R"("tab\there")").find("control characters") != std::string::npos);
  CHECK(refused_with(R"("bell\u0007")").find("control characters") != std::string::npos);
  CHECK(refused_with(R"("del\u007f")").find("control characters") != std::string::npos);
  CHECK(refused_with(R"("c1\u0085")").find("control characters") != std::string::npos);
  CHECK(refused_with("42").find("must be a string") != std::string::npos);
  CHECK(std::count(s.helper.calls.begin(), s.helper.calls.end(), "open") == 1);  // none of these reached the helper

  // 200 characters of non-ASCII text is fine (characters, not bytes); 201 is not.
  std::string accents;
  for (int i = 0; i < 200; ++i) accents += "\xc3\xa9";  // é
  CHECK(s.post("/admin/monitoring/open-port", R"({"service": "metrics", "reason": ")" + accents + R"("})").result() == http::status::ok);
  CHECK(s.helper.doors.at("metrics").reason() == accents);
  CHECK(s.post("/admin/monitoring/extend-port",
               R"({"service": "metrics", "duration_minutes": 20, "reason": ")" + accents + "\xc3\xa9" + R"("})")
            .result() == http::status::unprocessable_entity);
  CHECK(s.post("/admin/monitoring/extend-port", R"({"service": "metrics", "duration_minutes": 20, "reason": "a\rb"})").result() ==
        http::status::unprocessable_entity);

  // open-all gives each door the reason.
  REQUIRE(s.post("/admin/monitoring/close-all").result() == http::status::ok);
  REQUIRE(s.post("/admin/monitoring/open-all", R"({"duration_minutes": 15, "reason": "incident 7"})").result() == http::status::ok);
  CHECK(s.helper.doors.at("metrics").reason() == "incident 7");
  CHECK(s.helper.doors.at("postgres").reason() == "incident 7");
  CHECK(s.post("/admin/monitoring/open-all", R"({"reason": "a\u0000b"})").result() == http::status::unprocessable_entity);
}

TEST_CASE("SMS_BRIDGE_REQUIRE_REASON: open-port, open-all and extend-port refuse a request without a reason") {
  monitoring_site s;
  s.config.require_reason = true;
  for (const auto& body : {std::string(R"({"service": "metrics"})"), std::string(R"({"service": "metrics", "reason": ""})"),
                           std::string(R"({"service": "metrics", "reason": "   "})"), std::string(R"({"service": "metrics", "reason": null})")}) {
    auto r = s.post("/admin/monitoring/open-port", body);
    CHECK(r.result() == http::status::unprocessable_entity);
    CHECK(object_of(r).at("detail") ==
          "This server requires a reason for opening or extending a door: give 'reason' (at most 200 characters), which is "
          "recorded in the audit trail.");
  }
  CHECK(s.post("/admin/monitoring/open-all").result() == http::status::unprocessable_entity);
  CHECK(s.post("/admin/monitoring/open-all?duration_minutes=15").result() == http::status::unprocessable_entity);
  CHECK(s.helper.doors.empty());
  REQUIRE(s.post("/admin/monitoring/open-port", R"({"service": "metrics", "reason": "why not"})").result() == http::status::ok);
  CHECK(s.post("/admin/monitoring/extend-port", R"({"service": "metrics", "duration_minutes": 30})").result() ==
        http::status::unprocessable_entity);
  CHECK(s.post("/admin/monitoring/extend-port", R"({"service": "metrics", "duration_minutes": 30, "reason": "more time"})").result() ==
        http::status::ok);
  CHECK(s.post("/admin/monitoring/open-all", R"({"reason": "all of them"})").result() == http::status::ok);
  CHECK(s.helper.doors.at("postgres").reason() == "all of them");
  // close-port needs none.
  CHECK(s.post("/admin/monitoring/close-port", R"({"service": "metrics"})").result() == http::status::ok);
}

TEST_CASE("port-status and services report the kernel's remaining time, drift, and the last drift repair") {
  monitoring_site s;
  REQUIRE(s.post("/admin/monitoring/open-port", R"({"service": "metrics", "duration_minutes": 60})").result() == http::status::ok);
  s.helper.kernel_skew_ms = -400'000;  // the kernel's element times out 400 s before the state's deadline
  auto status = object_of(s.get("/admin/monitoring/port-status"));
  const auto& door = status.at("metrics").as_object();
  const auto kernel = door.at("kernel_expires_in_seconds").as_int64();
  CHECK(kernel >= 3600 - 400 - 2);
  CHECK(kernel <= 3600 - 400);
  CHECK(door.at("time_remaining_seconds").as_int64() >= 3598);  // from the state, as before
  CHECK(door.at("kernel_drift") == true);
  CHECK(door.at("drift_repaired_at").is_null());
  auto services = object_of(s.get("/admin/monitoring/services"));
  CHECK(services.at("services").at("metrics").at("kernel_expires_in_seconds").as_int64() == kernel);
  CHECK(services.at("active_ports").at("metrics").at("kernel_drift") == true);

  s.helper.kernel_skew_ms = -1500;  // within the helper's 2 s: no drift
  CHECK(object_of(s.get("/admin/monitoring/port-status")).at("metrics").at("kernel_drift") == false);
  s.helper.kernel_skew_ms.reset();  // the helper could not read the kernel
  auto unread = object_of(s.get("/admin/monitoring/port-status")).at("metrics").as_object();
  CHECK(unread.at("kernel_expires_in_seconds").is_null());
  CHECK(unread.at("kernel_drift").is_null());
  CHECK(object_of(s.get("/admin/monitoring/services")).at("services").at("metrics").at("kernel_expires_in_seconds").is_null());

  // The helper repaired the drift: once drained, the door says when.
  s.helper.kernel_skew_ms = 0;
  v1::Event& repaired = s.helper.record(v1::DRIFT_REPAIRED, s.helper.doors.at("metrics"), "system", "");
  repaired.set_detail("The kernel's timeout was 400 s short; the element was renewed.");
  const auto at = repaired.at();
  run(s.audit.drain());
  auto after = object_of(s.get("/admin/monitoring/port-status")).at("metrics").as_object();
  CHECK(after.at("drift_repaired_at").as_string() == iso(at));
  CHECK(after.at("kernel_drift") == false);
  // A door opened later is a new grant: it does not inherit the repair.
  REQUIRE(s.post("/admin/monitoring/close-port", R"({"service": "metrics"})").result() == http::status::ok);
  REQUIRE(s.post("/admin/monitoring/open-port", R"({"service": "metrics"})").result() == http::status::ok);
  CHECK(object_of(s.get("/admin/monitoring/port-status")).at("metrics").at("drift_repaired_at").is_null());
}

TEST_CASE("the audit endpoint takes action=extended") {
  monitoring_site s;
  s.trail.actions = R"([{"action": "extended", "by": "alice", "reason": "more time"}])";
  auto r = s.get("/admin/monitoring/audit?action=extended");
  REQUIRE(r.result() == http::status::ok);
  CHECK(object_of(r).at("events").as_array()[0].at("action") == "extended");
  CHECK(s.get("/admin/monitoring/audit?action=renamed").result() == http::status::unprocessable_entity);
}
