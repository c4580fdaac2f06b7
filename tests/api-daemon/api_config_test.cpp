// sms-bridge-api's configuration: variables, flags over variables, one sentence per mistake.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

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

TEST_CASE("the --help text lists every setting with its variable") {
  CHECK(parse_command_line({}, {"--help"})->help);
  const auto text = usage();
  for (const auto& d : setting_docs()) {
    CHECK(text.find(d.flag) != std::string::npos);
    CHECK(text.find(d.variable) != std::string::npos);
  }
}

namespace {
// A file in a fresh temporary directory, removed with the object.
struct secret_file {
  std::string dir, path;
  explicit secret_file(const std::string& content) {
    char tmpl[] = "/tmp/sms-bridge-secret-XXXXXX";
    dir = ::mkdtemp(tmpl);
    path = dir + "/secret";
    std::ofstream(path) << content;
  }
  ~secret_file() {
    std::remove(path.c_str());
    ::rmdir(dir.c_str());
  }
};
}  // namespace

TEST_CASE("a secret can come from the file its NAME_FILE variable names, one trailing newline dropped") {
  secret_file password("correct horse battery\n");
  const std::map<std::string, std::string> env{{"SMS_BRIDGE_ADMIN_USERNAME", "admin"},
                                               {"SMS_BRIDGE_ADMIN_PASSWORD_FILE", password.path},
                                               {"SMS_BRIDGE_DATABASE_PASSWORD_FILE", password.path}};
  auto cl = parse_command_line(env, {});
  REQUIRE(cl);
  REQUIRE(load_secrets(cl->config, env));
  CHECK(cl->config.admin_password == "correct horse battery");
  CHECK(cl->config.database_password == "correct horse battery");
}

TEST_CASE("a secret set both as NAME and NAME_FILE, or in an unreadable file, is refused with a sentence") {
  auto both = parse_command_line({{"SMS_BRIDGE_HMAC_SECRET", "0123456789abcdef0123"}, {"SMS_BRIDGE_HMAC_SECRET_FILE", "/x"}}, {});
  REQUIRE_FALSE(both);
  CHECK(both.error().message == "SMS_BRIDGE_HMAC_SECRET and SMS_BRIDGE_HMAC_SECRET_FILE are both set: set one of them.");
  const std::map<std::string, std::string> env{{"SMS_BRIDGE_SMS_API_KEY_FILE", "/nonexistent/key"}};
  auto cl = parse_command_line(env, {});
  REQUIRE(cl);
  auto loaded = load_secrets(cl->config, env);
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().message == "SMS_BRIDGE_SMS_API_KEY_FILE: cannot read /nonexistent/key.");
}

TEST_CASE("the daemon refuses example values and short passwords, naming the variable") {
  struct refused_case {
    std::map<std::string, std::string> env;
    std::string sentence;
  };
  const std::vector<refused_case> cases = {
      {{{"SMS_BRIDGE_ADMIN_USERNAME", "admin"}, {"SMS_BRIDGE_ADMIN_PASSWORD", "CHANGE-ME"}},
       "SMS_BRIDGE_ADMIN_PASSWORD is still the example value CHANGE-ME; set a real secret (for example: openssl rand -base64 24)."},
      {{{"SMS_BRIDGE_ADMIN_USERNAME", "admin"}, {"SMS_BRIDGE_ADMIN_PASSWORD", "short-pass1"}},
       "SMS_BRIDGE_ADMIN_PASSWORD must be at least 12 characters."},
      {{{"PGPASSWORD", "change-me-please-now"}},
       "PGPASSWORD is still the example value CHANGE-ME; set a real secret (for example: openssl rand -base64 24)."},
      {{{"SMS_BRIDGE_DATABASE_URL", "postgresql://sms:tiny@db/sms"}},
       "the password in SMS_BRIDGE_DATABASE_URL must be at least 12 characters."},
      {{{"SMS_BRIDGE_DATABASE_PASSWORD", "CHANGE-ME"}},
       "SMS_BRIDGE_DATABASE_PASSWORD is still the example value CHANGE-ME; set a real secret (for example: openssl rand -base64 24)."},
      {{{"SMS_BRIDGE_HMAC_SECRET", "0123456789abcde"}}, "SMS_BRIDGE_HMAC_SECRET must be at least 16 characters."},
      {{{"SMS_BRIDGE_SMS_API_KEY", "CHANGE-ME-0123456789"}},
       "SMS_BRIDGE_SMS_API_KEY is still the example value CHANGE-ME; set a real secret (for example: openssl rand -base64 24)."},
  };
  for (const auto& c : cases) {
    auto cl = parse_command_line(c.env, {});
    REQUIRE(cl);
    auto loaded = load_secrets(cl->config, c.env);
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error().message == c.sentence);
  }
  const std::map<std::string, std::string> good{{"SMS_BRIDGE_ADMIN_USERNAME", "admin"},
                                                {"SMS_BRIDGE_ADMIN_PASSWORD", "twelve chars"},
                                                {"PGPASSWORD", "a good database password"},
                                                {"SMS_BRIDGE_HMAC_SECRET", "0123456789abcdef"}};
  auto cl = parse_command_line(good, {});
  REQUIRE(cl);
  CHECK(load_secrets(cl->config, good));
}

TEST_CASE("the options --help and --version win over a bad variable and over bad arguments") {
  const std::map<std::string, std::string> bad{{"SMS_BRIDGE_MAX_CONNECTIONS", "abc"},
                                               {"SMS_BRIDGE_HMAC_SECRET", "x"},
                                               {"SMS_BRIDGE_HMAC_SECRET_FILE", "/x"}};
  REQUIRE_FALSE(parse_command_line(bad, {}));  // the variables are bad indeed
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--help"}, {"-h"}, {"migrate", "--help"},
                                               {"--no-such-flag=1", "--help"}, {"--listen", "nonsense", "-h"}}) {
    auto cl = parse_command_line(bad, args);
    REQUIRE(cl);
    CHECK(cl->help);
  }
  auto version = parse_command_line(bad, {"admin", "--version"});
  REQUIRE(version);
  CHECK(version->version);
  CHECK_FALSE(version->help);
}

TEST_CASE("a --help or --version that is the value of the option before it is that option's value") {
  auto cl = parse_command_line({}, {"--log-dir", "--help"});
  REQUIRE(cl);
  CHECK_FALSE(cl->help);
  CHECK(cl->config.log_dir == "--help");
}

TEST_CASE("admin takes list alone, or add, passwd or remove with a NAME") {
  auto list = parse_command_line({}, {"admin", "list"});
  REQUIRE(list);
  CHECK(list->command == "admin");
  CHECK(list->operands == std::vector<std::string>{"list"});
  auto add = parse_command_line({}, {"admin", "add", "alice"});
  REQUIRE(add);
  CHECK(add->operands == std::vector<std::string>{"add", "alice"});
  for (const std::vector<std::string>& args : {std::vector<std::string>{"admin"}, {"admin", "list", "alice"},
                                               {"admin", "add"}, {"admin", "show", "alice"}}) {
    auto refused = parse_command_line({}, args);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message == "admin needs list, add, passwd or remove and a NAME, or totp enable or totp disable and a NAME; see --help.");
  }
}

TEST_CASE("the flag --admin-password wins over SMS_BRIDGE_ADMIN_PASSWORD_FILE, as a flag wins over its variable") {
  secret_file password("the file's password\n");
  const std::map<std::string, std::string> env{{"SMS_BRIDGE_ADMIN_USERNAME", "admin"},
                                               {"SMS_BRIDGE_ADMIN_PASSWORD_FILE", password.path}};
  auto cl = parse_command_line(env, {"--admin-password", "the flag's password"});
  REQUIRE(cl);
  REQUIRE(load_secrets(cl->config, env));
  CHECK(cl->config.admin_password == "the flag's password");
}

TEST_CASE("usage() names every command and --version") {
  const auto text = usage();
  for (const char* s : {"admin list", "admin add NAME", "admin passwd NAME", "admin remove NAME", "migrate", "--version",
                        "--help", "12 to 256 characters"})
    CHECK(text.find(s) != std::string::npos);
}

TEST_CASE("every default --help states is the default the daemon uses") {
  const auto defaults = parse_command_line({}, {});
  REQUIRE(defaults);
  int stated = 0;
  for (const auto& d : setting_docs()) {
    const std::string text = d.default_text;
    if (text.front() == '(') {
      // "(none)", "(none: the system's CAs)": the setting is empty unless given.
      CHECK(text.rfind("(none", 0) == 0);
      auto given = parse_command_line({{d.variable, "1"}}, {});
      if (given) CHECK_FALSE(given->config == defaults->config);
      continue;
    }
    auto cl = parse_command_line({{d.variable, text}}, {});
    INFO(d.variable << "=" << text);
    REQUIRE(cl);
    CHECK(cl->config == defaults->config);
    ++stated;
  }
  CHECK(stated >= 15);
}
