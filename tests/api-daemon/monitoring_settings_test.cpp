// sms_settings.json: the shipped default equals the built-in defaults; the seed's format is read
// as it is; mistakes are one sentence naming the key.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "result_string_maker.hpp"

#include "api-daemon/monitoring_settings.hpp"
#include "api-daemon/settings_file.hpp"

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
