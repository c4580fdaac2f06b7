// sms_settings.json: the shipped default equals the built-in defaults; the seed's format is read
// as it is; mistakes are one sentence naming the key.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "result_string_maker.hpp"

#include "api-daemon/monitoring_settings.hpp"
#include "api-daemon/settings_file.hpp"
#include "api-daemon/sms_rules.hpp"

using namespace smsbridge::api;

namespace {
bool same(const monitoring_ports& a, const monitoring_ports& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, door] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second.port != door.port || it->second.enabled != door.enabled ||
        it->second.description != door.description) {
      return false;
    }
  }
  return true;
}
}  // namespace

TEST_CASE("the shipped compose/sms_settings.json is the seed's defaults") {
  std::ifstream in(std::string(SOURCE_DIR) + "/compose/sms_settings.json");
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parse_monitoring_ports(text.str());
  REQUIRE(parsed);
  CHECK(same(*parsed, default_monitoring_ports()));
}

TEST_CASE("a file without the section gives the defaults; a bad section is refused with its key") {
  CHECK(same(*parse_monitoring_ports(R"({"version": "2.3.0", "settings": {"rate_limits": {}}})"), default_monitoring_ports()));
  auto bad = parse_monitoring_ports(R"({"settings": {"monitoring_ports": {"metrics": {"port": 0}}}})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("settings.monitoring_ports.metrics.port") != std::string::npos);
  CHECK_FALSE(parse_monitoring_ports(R"({"settings": {"monitoring_ports": {"metrics": {"port": 9100, "enabled": "yes"}}}})"));
  CHECK_FALSE(parse_monitoring_ports("{nope"));
}

TEST_CASE("writing the section keeps every other setting") {
  auto text = with_monitoring_ports(R"({"version": "2.3.0", "settings": {"rate_limits": {"sms_per_minute": 20}}})",
                                    {{"metrics", {9200, true, "m"}}});
  REQUIRE(text);
  CHECK(text->find("\"sms_per_minute\": 20") != std::string::npos);
  auto back = parse_monitoring_ports(*text);
  REQUIRE(back);
  CHECK(back->at("metrics").port == 9200);
  CHECK_FALSE(with_monitoring_ports("[1, 2]", {}));
}

TEST_CASE("a missing settings file means the defaults; one that exists but cannot be read is an error, never the defaults") {
  char tmpl[] = "/tmp/sms-bridge-settings-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  const std::string missing = (dir / "absent.json").string();
  auto defaults = load_monitoring_ports(missing);
  REQUIRE(defaults.has_value());
  CHECK(same(*defaults, default_monitoring_ports()));
  CHECK(load_sms_settings(missing).has_value());

  // A read that fails (here EISDIR; EMFILE or EIO in the field) must not turn a door the operator
  // disabled back on, nor let a write replace the sections it did not mean to touch.
  const std::string unreadable = (dir / "settings.json").string();
  std::filesystem::create_directory(unreadable);
  auto ports = load_monitoring_ports(unreadable);
  REQUIRE_FALSE(ports.has_value());
  CHECK(ports.error().message == fmt::format("cannot read settings file {}: Is a directory", unreadable));
  auto sms = load_sms_settings(unreadable);
  REQUIRE_FALSE(sms.has_value());
  CHECK(sms.error().message == fmt::format("cannot read settings file {}: Is a directory", unreadable));
  auto written = write_settings_file(unreadable, default_monitoring_ports());
  REQUIRE_FALSE(written.has_value());
  CHECK(written.error().message == fmt::format("cannot read settings file {}: Is a directory; nothing was changed.", unreadable));
  CHECK(std::filesystem::is_directory(unreadable));
  std::filesystem::remove_all(dir);
}
