// sms-bridge-api's configuration: variables, flags over variables, one sentence per mistake.
#include <catch2/catch.hpp>

#include "result_string_maker.hpp"

#include "api-daemon/api_config.hpp"

using namespace smsbridge::api;

TEST_CASE("with nothing set, the documented defaults apply and the command is serve") {
  auto cl = parse_command_line({}, {});
  REQUIRE(cl);
  CHECK(cl->command == "serve");
  CHECK(cl->config.listen.host == "0.0.0.0");
  CHECK(cl->config.listen.port == 8080);
  CHECK(cl->config.metrics_listen.port == 9464);
  CHECK(cl->config.database_url == "postgresql:///sms_bridge");
}

TEST_CASE("variables configure, and a flag wins over its variable") {
  auto cl = parse_command_line({{"SMS_BRIDGE_LISTEN", "127.0.0.1:9000"}, {"SMS_BRIDGE_DATABASE_URL", "postgresql://db/x"}},
                               {"--listen", "[::1]:9001", "migrate", "--firewall-socket=/tmp/fw.sock"});
  REQUIRE(cl);
  CHECK(cl->command == "migrate");
  CHECK(cl->config.listen.host == "::1");
  CHECK(cl->config.listen.port == 9001);
  CHECK(cl->config.database_url == "postgresql://db/x");
  CHECK(cl->config.firewall_socket == "/tmp/fw.sock");
}

TEST_CASE("an empty variable keeps the default, as an env file's NAME= line means") {
  auto cl = parse_command_line({{"SMS_BRIDGE_LISTEN", ""}, {"SMS_BRIDGE_TRUSTED_PROXIES", ""}, {"SMS_BRIDGE_SECRETS_FILE", ""},
                                {"SMS_BRIDGE_DATABASE_CONNECTIONS", ""}, {"SMS_BRIDGE_PORT_MIN_DURATION_SECONDS", ""}},
                               {});
  REQUIRE(cl);
  CHECK(cl->config.listen.port == 8080);
  CHECK(cl->config.port_min_duration_seconds == 900);
  CHECK(cl->config.secrets_file.empty());
}

TEST_CASE("configuration mistakes are one sentence naming the setting") {
  auto bad_env = parse_command_line({{"SMS_BRIDGE_LISTEN", "localhost:8080"}}, {});
  REQUIRE_FALSE(bad_env);
  CHECK(bad_env.error().message.find("SMS_BRIDGE_LISTEN") != std::string::npos);
  auto bad_port = parse_command_line({}, {"--metrics-listen", "127.0.0.1:99999"});
  REQUIRE_FALSE(bad_port);
  CHECK(bad_port.error().message.find("--metrics-listen") != std::string::npos);
  CHECK_FALSE(parse_command_line({}, {"--no-such-flag", "1"}));
  CHECK_FALSE(parse_command_line({}, {"--listen"}));
  CHECK_FALSE(parse_command_line({}, {"frobnicate"}));
  CHECK_FALSE(parse_command_line({}, {"migrate", "extra"}));
}

TEST_CASE("--help lists every setting with its variable") {
  CHECK(parse_command_line({}, {"--help"})->help);
  const auto text = usage();
  for (const auto& d : setting_docs()) {
    CHECK(text.find(d.flag) != std::string::npos);
    CHECK(text.find(d.variable) != std::string::npos);
  }
}
