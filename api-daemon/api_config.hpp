// sms-bridge-api's configuration: SMS_BRIDGE_* environment variables and the matching flags.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace smsbridge::api {

struct listen_address {
  std::string host;  // numeric IPv4 or IPv6
  std::uint16_t port = 0;
};

// The settings this version uses. DESIGN.md §5 lists the rest (settings file, log dir, server
// address, admin bootstrap, trusted proxies, duration bounds); each joins this table with the
// feature that reads it, so --help never lists a setting that does nothing.
struct api_config {
  std::string database_url = "postgresql:///sms_bridge";
  listen_address listen{"0.0.0.0", 8080};
  listen_address metrics_listen{"127.0.0.1", 9464};
  std::string firewall_socket = "/run/sms-bridge/firewall.sock";
};

// One setting: its flag (--database-url) and variable (SMS_BRIDGE_DATABASE_URL) and what it means.
struct setting_doc {
  const char* flag;
  const char* variable;
  const char* default_text;
  const char* meaning;
};
const std::vector<setting_doc>& setting_docs();

struct command_line {
  std::string command = "serve";  // serve | migrate
  bool help = false;
  api_config config;
};

// Builds the configuration from the environment, then flags (a flag wins over its variable).
// Fails with one sentence naming the setting and what is wrong.
fallible<command_line> parse_command_line(const std::map<std::string, std::string>& environment,
                                          const std::vector<std::string>& args);

// The --help text, listing every setting with its variable and default.
std::string usage();

}  // namespace smsbridge::api
