// sms-bridge-api's configuration: SMS_BRIDGE_* environment variables and the matching flags.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace smsbridge::api {

struct listen_address {
  std::string host;  // numeric IPv4 or IPv6
  std::uint16_t port = 0;
  bool operator==(const listen_address&) const = default;
};

struct api_config {
  std::string database_url = "postgresql:///sms_bridge";
  listen_address listen{"0.0.0.0", 8080};
  listen_address metrics_listen{"127.0.0.1", 9464};
  std::string settings_file = "/etc/sms-bridge/sms_settings.json";
  std::string firewall_socket = "/run/sms-bridge/firewall.sock";
  std::string log_dir = "/var/log/sms-bridge";
  std::string server_ip = "auto";
  bool monitoring_enabled = true;
  bool monitoring_worker_enabled = true;
  bool require_reason = false;  // open-port, open-all and extend-port need a 'reason'
  std::string admin_username;  // bootstrap of the first admin only
  std::string admin_password;
  std::vector<std::string> trusted_proxies;  // CIDRs whose X-Forwarded-For is believed
  std::uint32_t port_min_duration_seconds = 900;
  std::uint32_t port_max_duration_seconds = 14400;
  std::uint32_t reconcile_interval_seconds = 300;
  std::uint32_t database_connections = 8;
  std::uint32_t max_connections = 2048;            // HTTP connections at once, per listener
  std::uint32_t max_connections_per_source = 64;  // from one address (loopback and trusted proxies exempt)
  std::uint32_t sms_requests_per_source = 60;  // registrations, and PIN setups, per address per 10 minutes
  std::uint32_t pin_retention_seconds = 7 * 86400;  // a failed outbox item's (sealed) PIN is wiped after this
  std::uint32_t retention_days = 90;
  std::uint32_t history_bytes = 8U << 20;      // the metrics history's memory budget; 0: no history
  std::uint32_t history_interval_seconds = 60;  // how often it samples
  std::string history_file = "/var/lib/sms-bridge/metrics-history.bin";  // empty: memory only
  bool require_totp = false;               // admins without a second factor may not log in or change anything
  std::uint32_t otp_step_up_minutes = 15;  // a browser session gives a new code to open a door after this; 0: every time  // SMS log, login trail, spent codes, delivered outbox items
  // Secrets: from the environment or SMS_BRIDGE_SECRETS_FILE only, never a flag or the settings file.
  std::string secrets_file;
  std::string hmac_secret;  // SMS_BRIDGE_HMAC_SECRET: signs codes (and, later, deliveries)
  std::string sms_api_key;  // SMS_BRIDGE_SMS_API_KEY: what the SMS gateway presents
  std::string database_password;  // SMS_BRIDGE_DATABASE_PASSWORD: used unless the URL carries one
  // NAME_FILE variables (compose/Kubernetes secrets): secret variable -> the file holding its value.
  std::map<std::string, std::string> secret_files;
  std::string backend_ca_file;  // extra CA certificates for the backend's TLS (besides the system's)
  bool operator==(const api_config&) const = default;  // tests: what a setting changed
};

// Reads each NAME_FILE (one value, a trailing newline dropped), then KEY=VALUE lines
// (SMS_BRIDGE_HMAC_SECRET, SMS_BRIDGE_SMS_API_KEY) from the secrets file where nothing else set
// them, then refuses weak secrets (check_secrets). Fails with a sentence naming the variable,
// never the value.
fallible<void> load_secrets(api_config& config, const std::map<std::string, std::string>& environment);

// Refuses to run on an example value (CHANGE-ME), a password shorter than 12 characters or an
// SMS secret shorter than 16: the admin password, the database password (SMS_BRIDGE_DATABASE_PASSWORD,
// PGPASSWORD or the URL's), SMS_BRIDGE_HMAC_SECRET and SMS_BRIDGE_SMS_API_KEY. Pure.
fallible<void> check_secrets(const api_config& config, const std::map<std::string, std::string>& environment);

// Whether a value still holds the examples' placeholder CHANGE-ME, in any case, anywhere in it. Pure.
bool is_example_value(std::string_view value);

// One setting: its flag (--database-url) and variable (SMS_BRIDGE_DATABASE_URL) and what it means.
struct setting_doc {
  const char* flag;
  const char* variable;
  const char* default_text;
  const char* meaning;
};
const std::vector<setting_doc>& setting_docs();

struct command_line {
  std::string command = "serve";      // serve | migrate | admin
  std::vector<std::string> operands;  // admin: {list}, {add|passwd|remove, NAME} or {totp, enable|disable, NAME}
  bool help = false;     // -h/--help: print usage() and exit 0
  bool version = false;  // --version: print the version and exit 0
  api_config config;
};

// Builds the configuration from the environment, then flags (a flag wins over its variable).
// Fails with one sentence naming the setting and what is wrong. -h, --help and --version win over
// everything else: with one of them the environment and the other arguments are not read, so the
// help and the version show even when a setting is bad.
fallible<command_line> parse_command_line(const std::map<std::string, std::string>& environment,
                                          const std::vector<std::string>& args);

// The --help text, listing every setting with its variable and default.
std::string usage();

}  // namespace smsbridge::api
