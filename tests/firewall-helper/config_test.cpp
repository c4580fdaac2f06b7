// The helper config: defaults, strict keys, and one clear sentence per mistake.
#include <catch2/catch.hpp>

#include "result_string_maker.hpp"

#include "firewall-helper/config.hpp"

#include <fmt/format.h>

#include <utility>
#include <vector>

using namespace smsbridge::firewall;

namespace {
std::string error_of(const char* json) {
  auto r = parse_config(json);
  REQUIRE_FALSE(r);
  return r.error().message;
}
}  // namespace

TEST_CASE("an empty object gives the documented defaults") {
  auto c = parse_config("{}");
  REQUIRE(c);
  CHECK(c->socket_mode == 0660);
  CHECK(c->table == "sms_bridge");
  CHECK(c->ct_mark_bit == 0x00100000u);
  CHECK(c->port_min == 1024);
  CHECK(c->port_max == 65535);
  CHECK(c->forbidden_ports == std::set<std::uint16_t>{22, 8080});
  CHECK(c->duration_min == 900);
  CHECK(c->duration_max == 14400);
  CHECK_FALSE(c->allow_any_source);
  CHECK(c->on_shutdown == shutdown_policy::close);
  CHECK(c->services.empty());
  CHECK(c->digest.size() == 64);
}

TEST_CASE("a full config is read key by key") {
  auto c = parse_config(R"({
    "socket": "/run/x.sock", "socket_mode": "0600", "allowed_uids": [0, 998], "allowed_gids": [997],
    "state_file": "/var/lib/x/port_mappings.json", "table": "t1", "ct_mark_bit": "0x00000004",
    "services": {"metrics": {"target": "127.0.0.1:8080"}, "postgres": {"target": "172.30.0.10:5432", "masquerade": true}},
    "external_ports": {"min": 2000, "max": 3000, "forbidden": [2222]},
    "duration_seconds": {"min": 1, "max": 60}, "allow_any_source": true, "on_shutdown": "keep",
    "on_drift": "report", "max_clients": 4, "client_timeout_seconds": 2, "reconcile_interval_seconds": 5
  })");
  REQUIRE(c);
  CHECK(c->socket_mode == 0600);
  CHECK(c->allowed_uids == std::vector<uid_t>{0, 998});
  CHECK(c->ct_mark_bit == 4u);
  CHECK(c->find_service("postgres")->masquerade);
  CHECK(c->find_service("metrics")->target.to_string() == "127.0.0.1:8080");
  CHECK(c->forbidden_ports == std::set<std::uint16_t>{2222});
  CHECK(c->on_shutdown == shutdown_policy::keep);
  CHECK(c->on_drift == drift_policy::report);
  CHECK(c->reconcile_interval_seconds == 5);
}

TEST_CASE("allowed ids may be names, looked up when the config is read") {
  // root (uid 0, gid 0) and nobody (uid 65534) exist on every Debian machine.
  auto c = parse_config(R"({"allowed_uids": ["root", "nobody", 998], "allowed_gids": ["root"]})");
  REQUIRE(c);
  CHECK(c->allowed_uids == std::vector<uid_t>{0, 65534, 998});
  CHECK(c->allowed_gids == std::vector<gid_t>{0});
  CHECK(error_of(R"({"allowed_uids": ["no-such-user-here"]})").find("there is no user named 'no-such-user-here'") != std::string::npos);
  CHECK(error_of(R"({"allowed_gids": ["no-such-group-here"]})").find("there is no group named") != std::string::npos);
}

TEST_CASE("config mistakes are refused with a sentence naming the key") {
  CHECK(error_of(R"({"sokcet": "/x"})").find("unknown config key 'sokcet'") != std::string::npos);
  CHECK(error_of(R"({"services": {"db": {"target": "db.internal:5432"}}})").find("services.db") != std::string::npos);
  CHECK(error_of(R"({"services": {"db": {"target": "[::1]:5432"}}})").find("::1") != std::string::npos);
  CHECK(error_of(R"({"services": {"Bad Name": {"target": "127.0.0.1:1"}}})").find("service name") != std::string::npos);
  CHECK(error_of(R"({"services": {"db": {}}})").find("'services.db.target' is required") != std::string::npos);
  CHECK(error_of(R"({"ct_mark_bit": 3})").find("exactly one bit") != std::string::npos);
  CHECK(error_of(R"({"socket_mode": "0999"})").find("octal") != std::string::npos);
  CHECK(error_of(R"({"external_ports": {"min": 3000, "max": 2000}})").find("min is greater than max") != std::string::npos);
  CHECK(error_of(R"({"duration_seconds": {"min": 0}})").find("duration_seconds.min") != std::string::npos);
  CHECK(error_of(R"({"on_shutdown": "maybe"})").find("\"close\" or \"keep\"") != std::string::npos);
  CHECK(error_of(R"({"max_clients": 1.5})").find("whole number") != std::string::npos);
  CHECK(error_of(R"({"table": "no-dash"})").find("table") != std::string::npos);
  CHECK(error_of("{not json").find("not a valid JSON object") != std::string::npos);
}

TEST_CASE("a missing config file is named in the error") {
  auto r = load_config("/nonexistent/helper.json");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("/nonexistent/helper.json") != std::string::npos);
}

TEST_CASE("a reload may change the services and the bounds, never the socket, state file, table or mark") {
  const helper_config running = *parse_config(R"({"services": {"m": {"target": "127.0.0.1:9100"}}})");
  helper_config next = running;
  next.services.clear();
  next.duration_max = 1800;
  next.allowed_uids = {0, 1000};
  CHECK_FALSE(reload_refusal(running, next));
  const std::vector<std::pair<const char*, void (*)(helper_config&)>> restart_only{
      {"socket", [](helper_config& c) { c.socket_path = "/run/other.sock"; }},
      {"socket_mode", [](helper_config& c) { c.socket_mode = 0600; }},
      {"state_file", [](helper_config& c) { c.state_file = "/var/lib/other.json"; }},
      {"table", [](helper_config& c) { c.table = "other"; }},
      {"ct_mark_bit", [](helper_config& c) { c.ct_mark_bit = 0x1; }},
      {"docker_user_chain", [](helper_config& c) { c.docker_user_chain = true; }},
  };
  for (const auto& [key, change] : restart_only) {
    helper_config changed = running;
    change(changed);
    const auto why = reload_refusal(running, changed);
    INFO(key);
    REQUIRE(why);
    CHECK(why->find(fmt::format("'{}'", key)) != std::string::npos);
    CHECK(why->find("restart") != std::string::npos);
  }
}
