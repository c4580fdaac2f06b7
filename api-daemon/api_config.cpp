// sms-bridge-api's configuration: one table of settings drives parsing, validation and --help.
#include "api-daemon/api_config.hpp"

#include "api-daemon/bounded_numbers.hpp"

#include <cctype>
#include <fstream>
#include <functional>

#include <boost/asio/ip/address.hpp>
#include <fmt/format.h>

#include "api-daemon/pg.hpp"
#include "proto/net_types.hpp"

namespace smsbridge::api {

namespace {
fallible<listen_address> parse_listen(const std::string& name, const std::string& text) {
  std::string host, port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string::npos) return fail(fmt::format("{} must be HOST:PORT, e.g. [::]:8080, not '{}'.", name, text));
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return fail(fmt::format("{} must be HOST:PORT, e.g. 0.0.0.0:8080, not '{}'.", name, text));
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (ec) return fail(fmt::format("{}: '{}' is not a numeric IP address.", name, host));
  const auto port = whole_number(port_text, 0, 65535);
  if (!port) return fail(fmt::format("{}: '{}' is not a port (0 to 65535).", name, port_text));
  return listen_address{host, static_cast<std::uint16_t>(*port)};
}



// Applies one setting's text to the config, or says why it cannot.
using apply_fn = std::function<fallible<void>(api_config&, const std::string& name, const std::string& value)>;

struct setting {
  setting_doc doc;
  apply_fn apply;
};

fallible<bool> parse_bool(const std::string& name, const std::string& text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  return fail(fmt::format("{} must be true or false, not '{}'.", name, text));
}

// A whole-number setting within [min, max], stored in `field`.
apply_fn count_into(std::uint32_t api_config::*field, std::uint32_t min, std::uint32_t max) {
  return [field, min, max](api_config& c, const std::string& name, const std::string& text) -> fallible<void> {
    const auto v = whole_number(text, min, max);
    if (!v) return fail(fmt::format("{} must be a whole number from {} to {}, not '{}'.", name, min, max, text));
    c.*field = static_cast<std::uint32_t>(*v);
    return {};
  };
}

// A duration setting, 1 s to a week.
apply_fn seconds_into(std::uint32_t api_config::*field) {
  return [field](api_config& c, const std::string& name, const std::string& text) -> fallible<void> {
    const auto v = whole_number(text, 1, 604800);
    if (!v) return fail(fmt::format("{} must be a number of seconds from 1 to 604800, not '{}'.", name, text));
    c.*field = static_cast<std::uint32_t>(*v);
    return {};
  };
}

apply_fn flag_into(bool api_config::*field) {
  return [field](api_config& c, const std::string& name, const std::string& text) -> fallible<void> {
    auto b = parse_bool(name, text);
    if (!b) return b.error();
    c.*field = *b;
    return {};
  };
}

apply_fn listen_into(listen_address api_config::*field) {
  return [field](api_config& c, const std::string& name, const std::string& text) -> fallible<void> {
    auto a = parse_listen(name, text);
    if (!a) return a.error();
    c.*field = *a;
    return {};
  };
}

fallible<void> set_text(std::string& field, const std::string& name, const std::string& value) {
  if (value.size() > 4096) return fail(fmt::format("{} is longer than 4096 characters.", name));
  field = value;
  return {};
}

const std::vector<setting>& settings() {
  static const std::vector<setting> all = {
      {{"--database-url", "SMS_BRIDGE_DATABASE_URL", "postgresql:///sms_bridge", "PostgreSQL connection URL (libpq syntax)"},
       [](api_config& c, const std::string& n, const std::string& v) { return set_text(c.database_url, n, v); }},
      {{"--database-connections", "SMS_BRIDGE_DATABASE_CONNECTIONS", "8",
        "PostgreSQL connections (and database threads): how many transactions run at once; "
        "one more listens for admin changes, and one reads the metrics history"},
       count_into(&api_config::database_connections, 1, 64)},
      {{"--max-connections", "SMS_BRIDGE_MAX_CONNECTIONS", "2048", "HTTP connections at once per listener (keep well under LimitNOFILE)"},
       count_into(&api_config::max_connections, 16, 100000)},
      {{"--max-connections-per-source", "SMS_BRIDGE_MAX_CONNECTIONS_PER_SOURCE", "64",
        "HTTP connections at once from one address (loopback and TRUSTED_PROXIES exempt)"},
       count_into(&api_config::max_connections_per_source, 1, 100000)},
      {{"--sms-requests-per-source", "SMS_BRIDGE_SMS_REQUESTS_PER_SOURCE", "60",
        "registrations, and PIN setups, one address may make per 10 minutes (429 beyond; loopback exempt)"},
       count_into(&api_config::sms_requests_per_source, 1, 1000000)},
      {{"--retention-days", "SMS_BRIDGE_RETENTION_DAYS", "90",
        "days the SMS log, the login trail, spent codes and delivered outbox items are kept (31 or more)"},
       count_into(&api_config::retention_days, 31, 3650)},
      {{"--pin-retention-seconds", "SMS_BRIDGE_PIN_RETENTION_SECONDS", "604800",
        "how long a failed outbox item keeps its (sealed) PIN for a recovery, in seconds"},
       count_into(&api_config::pin_retention_seconds, 1, 366 * 86400)},
      {{"--history-bytes", "SMS_BRIDGE_HISTORY_BYTES", "8388608",
        "the metrics history's memory budget in bytes, never exceeded (the oldest samples go first); 0 turns it off"},
       [](api_config& c, const std::string& n, const std::string& v) -> fallible<void> {
         const auto bytes = whole_number(v, 0, std::int64_t{1} << 30);
         if (!bytes || (*bytes != 0 && *bytes < (std::int64_t{1} << 20))) {
           return fail(fmt::format("{} must be 0 (no history) or a number of bytes from 1048576 (1 MiB) to 1073741824 (1 GiB), not '{}'.", n, v));
         }
         c.history_bytes = static_cast<std::uint32_t>(*bytes);
         return {};
       }},
      {{"--history-interval-seconds", "SMS_BRIDGE_HISTORY_INTERVAL_SECONDS", "60", "how often the metrics history samples /metrics and PostgreSQL"},
       count_into(&api_config::history_interval_seconds, 1, 3600)},
      {{"--history-file", "SMS_BRIDGE_HISTORY_FILE", "/var/lib/sms-bridge/metrics-history.bin",
        "where the metrics history survives restarts (appended after each sample); empty: memory only"},
       [](api_config& c, const std::string& n, const std::string& v) { return set_text(c.history_file, n, v); }},
      {{"--listen", "SMS_BRIDGE_LISTEN", "0.0.0.0:8080", "the public listener: /health and the admin API"},
       listen_into(&api_config::listen)},
      {{"--metrics-listen", "SMS_BRIDGE_METRICS_LISTEN", "127.0.0.1:9464", "the metrics listener: /metrics and /health only (the \"metrics\" door points here)"},
       listen_into(&api_config::metrics_listen)},
      {{"--settings-file", "SMS_BRIDGE_SETTINGS_FILE", "/etc/sms-bridge/sms_settings.json",
        "the settings file (seed format; settings.monitoring_ports names the doors)"},
       [](api_config& c, const std::string& n, const std::string& v) { return set_text(c.settings_file, n, v); }},
      {{"--log-dir", "SMS_BRIDGE_LOG_DIR", "/var/log/sms-bridge",
        "where sms-bridge-api.log is written (10 MiB x 5 files, rotated) and what the log endpoints serve"},
       [](api_config& c, const std::string& n, const std::string& v) { return set_text(c.log_dir, n, v); }},
      {{"--server-ip", "SMS_BRIDGE_SERVER_IP", "auto", "the address laptops use to reach this server, or auto"},
       [](api_config& c, const std::string& n, const std::string& v) -> fallible<void> {
         if (v != "auto") {
           boost::system::error_code ec;
           boost::asio::ip::make_address(v, ec);
           if (ec) return fail(fmt::format("{} must be auto or a numeric IP address, not '{}'.", n, v));
         }
         c.server_ip = v;
         return {};
       }},
      {{"--monitoring-enabled", "SMS_BRIDGE_MONITORING_ENABLED", "true", "serve the /admin/monitoring API"},
       flag_into(&api_config::monitoring_enabled)},
      {{"--monitoring-worker-enabled", "SMS_BRIDGE_MONITORING_WORKER_ENABLED", "true",
        "drain the helper's events into the audit trail every 5 s (and after each open or close)"},
       flag_into(&api_config::monitoring_worker_enabled)},
      {{"--require-reason", "SMS_BRIDGE_REQUIRE_REASON", "false",
        "open-port, open-all and extend-port refuse (422) a request without a 'reason'"},
       flag_into(&api_config::require_reason)},
      {{"--admin-username", "SMS_BRIDGE_ADMIN_USERNAME", "(none)", "first admin, created at start only if no admin exists"},
       [](api_config& c, const std::string& n, const std::string& v) { return set_text(c.admin_username, n, v); }},
      {{"--admin-password", "SMS_BRIDGE_ADMIN_PASSWORD", "(none)", "that admin's password (prefer the variable: flags show in ps)"},
       [](api_config& c, const std::string& n, const std::string& v) { return set_text(c.admin_password, n, v); }},
      {{"--require-totp", "SMS_BRIDGE_REQUIRE_TOTP", "false",
        "refuse logins and changes by admins without a second factor (admin totp enable NAME)"},
       flag_into(&api_config::require_totp)},
      {{"--otp-step-up-minutes", "SMS_BRIDGE_OTP_STEP_UP_MINUTES", "15",
        "a browser session of an admin with a second factor gives a new code to open a door when its last is older (0: always)"},
       count_into(&api_config::otp_step_up_minutes, 0, 24 * 60)},
      {{"--trusted-proxies", "SMS_BRIDGE_TRUSTED_PROXIES", "(none)", "comma-separated CIDRs whose X-Forwarded-For is believed"},
       [](api_config& c, const std::string& n, const std::string& v) -> fallible<void> {
         c.trusted_proxies.clear();
         std::size_t start = 0;
         while (!v.empty()) {
           const auto comma = v.find(',', start);
           std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
           item.erase(0, item.find_first_not_of(' '));
           item.erase(item.find_last_not_of(' ') + 1);
           if (!firewall::parse_cidr(item)) return fail(fmt::format("{}: '{}' is not a numeric CIDR.", n, item));
           c.trusted_proxies.push_back(item);
           if (comma == std::string::npos) break;
           start = comma + 1;
         }
         return {};
       }},
      {{"--port-min-duration-seconds", "SMS_BRIDGE_PORT_MIN_DURATION_SECONDS", "900", "the shortest door"},
       seconds_into(&api_config::port_min_duration_seconds)},
      {{"--port-max-duration-seconds", "SMS_BRIDGE_PORT_MAX_DURATION_SECONDS", "14400", "the longest door"},
       seconds_into(&api_config::port_max_duration_seconds)},
      {{"--reconcile-interval-seconds", "SMS_BRIDGE_RECONCILE_INTERVAL_SECONDS", "300",
        "how often the audit trail is reconciled with the helper's live doors"},
       seconds_into(&api_config::reconcile_interval_seconds)},
      {{"--backend-ca-file", "SMS_BRIDGE_BACKEND_CA_FILE", "(none: the system's CAs)",
        "PEM certificates trusted, besides the system's, for the backend (sync_url, recovery_url)"},
       [](api_config& c, const std::string& n, const std::string& v) { return set_text(c.backend_ca_file, n, v); }},
      {{"--secrets-file", "SMS_BRIDGE_SECRETS_FILE", "(none)",
        "KEY=VALUE lines for SMS_BRIDGE_HMAC_SECRET and SMS_BRIDGE_SMS_API_KEY (which are never flags)"},
       [](api_config& c, const std::string& n, const std::string& v) { return set_text(c.secrets_file, n, v); }},
      {{"--firewall-socket", "SMS_BRIDGE_FIREWALL_SOCKET", "/run/sms-bridge/firewall.sock", "the firewall helper's socket"},
       [](api_config& c, const std::string& n, const std::string& v) { return set_text(c.firewall_socket, n, v); }},
  };
  return all;
}
}  // namespace

const std::vector<setting_doc>& setting_docs() {
  static const std::vector<setting_doc> docs = [] {
    std::vector<setting_doc> out;
    for (const auto& s : settings()) out.push_back(s.doc);
    return out;
  }();
  return docs;
}

std::string usage() {
  std::string out =
      "usage: sms-bridge-api [OPTIONS]                    serve (migrates the database first)\n"
      "       sms-bridge-api [OPTIONS] migrate            apply the database migrations and exit\n"
      "       sms-bridge-api [OPTIONS] admin list         list the admins: name, created, password changed, last login, TOTP\n"
      "       sms-bridge-api [OPTIONS] admin add NAME     create an admin (the password is read from stdin)\n"
      "       sms-bridge-api [OPTIONS] admin passwd NAME  change an admin's password (read from stdin)\n"
      "       sms-bridge-api [OPTIONS] admin remove NAME  delete an admin\n"
      "       sms-bridge-api [OPTIONS] admin totp enable NAME\n"
      "                                                   give an admin a second factor (TOTP): prints an\n"
      "                                                   otpauth:// URI, its QR code and ten recovery codes\n"
      "       sms-bridge-api [OPTIONS] admin totp disable NAME\n"
      "                                                   remove an admin's second factor\n"
      "       sms-bridge-api --help | --version\n"
      "\n"
      "admin add and admin passwd read the password as the first line of stdin; on a terminal they\n"
      "ask for it twice without echoing it. A password has 12 to 256 characters and is not CHANGE-ME.\n"
      "Every command migrates the database first.\n"
      "\n"
      "Every option can also be given as an environment variable; the option wins; an empty variable\n"
      "counts as unset.\n"
      "\n";
  for (const auto& d : setting_docs()) {
    out += fmt::format("  {} VALUE\n      ${}  (default {})\n      {}\n", d.flag, d.variable, d.default_text, d.meaning);
  }
  out += "  (environment only) $SMS_BRIDGE_HMAC_SECRET, $SMS_BRIDGE_SMS_API_KEY\n"
         "      the secrets of the SMS API (at least 16 characters each; or in --secrets-file).\n"
         "      Without both, the SMS API (/onboarding/register, /sms/receive, /pin-setup) is off.\n"
         "  (environment only) $SMS_BRIDGE_DATABASE_PASSWORD\n"
         "      the database password, unless the URL holds one (libpq's PGPASSWORD and ~/.pgpass also work).\n"
         "  (environment only) $SMS_BRIDGE_ADMIN_PASSWORD_FILE, $SMS_BRIDGE_DATABASE_PASSWORD_FILE,\n"
         "      $SMS_BRIDGE_HMAC_SECRET_FILE, $SMS_BRIDGE_SMS_API_KEY_FILE\n"
         "      read that secret from a file instead (compose secrets: /run/secrets/NAME); one trailing\n"
         "      newline is dropped. Setting both NAME and NAME_FILE is an error; --admin-password wins\n"
         "      over both.\n"
         "  The daemon refuses to start (exit 2, naming the variable) on a CHANGE-ME value, a password\n"
         "  shorter than 12 characters or an SMS secret shorter than 16.\n";
  out += "  -h, --help\n      this text\n"
         "  --version\n      print the version and the git revision it was built from\n"
         "\nsignals: SIGTERM/SIGINT stop it. SIGHUP reads --settings-file again (a broken file is a\n"
         "         warning; the requests that need it fail until it is fixed) and reopens the log file\n"
         "         under --log-dir; the other settings need a restart.\n"
         "\nexit codes: 0 stopped by a signal, or the command done;\n"
         "            1 cannot run or the command failed (database, socket, no such admin, admin exists);\n"
         "            2 usage or configuration error (a bad setting, name or password).\n";
  return out;
}

namespace {
// -h, --help or --version anywhere an option may stand (not as the value of the option before it).
void find_help_or_version(const std::vector<std::string>& args, command_line& cl) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") cl.help = true;
    else if (a == "--version") cl.version = true;
    else if (a.rfind("--", 0) == 0 && a.find('=') == std::string::npos) ++i;  // skips the option's value
    if (cl.help || cl.version) return;
  }
}
}  // namespace

fallible<command_line> parse_command_line(const std::map<std::string, std::string>& environment,
                                          const std::vector<std::string>& args) {
  command_line cl;
  find_help_or_version(args, cl);
  if (cl.help || cl.version) return cl;
  // An empty variable means "not set" (an env file's `NAME=` line keeps the default).
  for (const auto& s : settings()) {
    if (auto it = environment.find(s.doc.variable); it != environment.end() && !it->second.empty()) {
      if (auto r = s.apply(cl.config, s.doc.variable, it->second); !r) return r.error();
    }
  }
  // The secrets are read from the environment only (a flag would show in ps), or from the file a
  // NAME_FILE variable names; both at once is ambiguous.
  for (auto [name, field] : {std::pair{"SMS_BRIDGE_HMAC_SECRET", &cl.config.hmac_secret},
                             std::pair{"SMS_BRIDGE_SMS_API_KEY", &cl.config.sms_api_key},
                             std::pair{"SMS_BRIDGE_DATABASE_PASSWORD", &cl.config.database_password},
                             std::pair{"SMS_BRIDGE_ADMIN_PASSWORD", &cl.config.admin_password}}) {
    const std::string file_variable = std::string(name) + "_FILE";
    auto value = environment.find(name);
    auto file = environment.find(file_variable);
    const bool has_value = value != environment.end() && !value->second.empty();
    const bool has_file = file != environment.end() && !file->second.empty();
    if (has_value && has_file) return fail(fmt::format("{} and {} are both set: set one of them.", name, file_variable));
    if (has_value) *field = value->second;
    if (has_file) cl.config.secret_files[name] = file->second;
  }
  bool command_seen = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) == 0) {
      std::string flag = a, value;
      const auto eq = a.find('=');
      if (eq != std::string::npos) {
        flag = a.substr(0, eq);
        value = a.substr(eq + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return fail(fmt::format("{} needs a value; see --help.", a));
      }
      const setting* found = nullptr;
      for (const auto& s : settings())
        if (flag == s.doc.flag) found = &s;
      if (!found) return fail(fmt::format("unknown option '{}'; see --help.", flag));
      if (auto r = found->apply(cl.config, flag, value); !r) return r.error();
      // The flag wins over the variable, also over a password file named by one.
      if (flag == "--admin-password") cl.config.secret_files.erase("SMS_BRIDGE_ADMIN_PASSWORD");
      continue;
    }
    if (!command_seen) {
      if (a != "serve" && a != "migrate" && a != "admin") return fail(fmt::format("unknown command '{}'; see --help.", a));
      cl.command = a;
      command_seen = true;
      continue;
    }
    if (cl.command == "admin" && (cl.operands.size() < 2 || (cl.operands.size() < 3 && cl.operands[0] == "totp"))) {
      cl.operands.push_back(a);
      continue;
    }
    return fail(fmt::format("unexpected argument '{}'; see --help.", a));
  }
  if (cl.command == "admin") {
    const bool list = cl.operands.size() == 1 && cl.operands[0] == "list";
    const bool named = cl.operands.size() == 2 &&
                       (cl.operands[0] == "add" || cl.operands[0] == "passwd" || cl.operands[0] == "remove");
    const bool totp = cl.operands.size() == 3 && cl.operands[0] == "totp" &&
                      (cl.operands[1] == "enable" || cl.operands[1] == "disable");
    if (!list && !named && !totp) {
      return fail("admin needs list, add, passwd or remove and a NAME, or totp enable or totp disable and a NAME; see --help.");
    }
  }
  if (cl.config.port_min_duration_seconds > cl.config.port_max_duration_seconds) {
    return fail("SMS_BRIDGE_PORT_MIN_DURATION_SECONDS is greater than SMS_BRIDGE_PORT_MAX_DURATION_SECONDS.");
  }
  if (cl.config.admin_username.empty() != (cl.config.admin_password.empty() && !cl.config.secret_files.count("SMS_BRIDGE_ADMIN_PASSWORD"))) {
    return fail("SMS_BRIDGE_ADMIN_USERNAME and SMS_BRIDGE_ADMIN_PASSWORD go together: set both or neither.");
  }
  return cl;
}

namespace {
// One secret's file: at most 4096 bytes, one trailing newline (an editor's, echo's) dropped.
fallible<std::string> read_secret_file(const std::string& variable, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(fmt::format("{}_FILE: cannot read {}.", variable, path));
  std::string value(4097, '\0');
  in.read(value.data(), static_cast<std::streamsize>(value.size()));
  value.resize(static_cast<std::size_t>(in.gcount()));
  if (value.size() > 4096) return fail(fmt::format("{}_FILE: {} is longer than 4096 bytes.", variable, path));
  if (!value.empty() && value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
  if (value.empty()) return fail(fmt::format("{}_FILE: {} is empty.", variable, path));
  return value;
}

}  // namespace

bool is_example_value(std::string_view v) {
  constexpr std::string_view marker = "change-me";
  if (v.size() < marker.size()) return false;
  for (std::size_t i = 0; i + marker.size() <= v.size(); ++i) {
    bool same = true;
    for (std::size_t k = 0; k < marker.size() && same; ++k)
      same = std::tolower(static_cast<unsigned char>(v[i + k])) == marker[k];
    if (same) return true;
  }
  return false;
}

fallible<void> check_secrets(const api_config& config, const std::map<std::string, std::string>& environment) {
  struct secret {
    std::string name;
    std::string value;
    std::size_t min_length;
  };
  std::vector<secret> secrets = {{"SMS_BRIDGE_ADMIN_PASSWORD", config.admin_password, 12},
                                 {"SMS_BRIDGE_DATABASE_PASSWORD", config.database_password, 12},
                                 {"the password in SMS_BRIDGE_DATABASE_URL", pg::password_of(config.database_url), 12},
                                 {"SMS_BRIDGE_HMAC_SECRET", config.hmac_secret, 16},
                                 {"SMS_BRIDGE_SMS_API_KEY", config.sms_api_key, 16}};
  if (auto it = environment.find("PGPASSWORD"); it != environment.end()) secrets.push_back({"PGPASSWORD", it->second, 12});
  for (const auto& s : secrets) {
    if (s.value.empty()) continue;  // not set: the feature it guards is off, or another source applies
    if (is_example_value(s.value)) {
      return fail(fmt::format("{} is still the example value CHANGE-ME; set a real secret (for example: openssl rand -base64 24).", s.name));
    }
    if (s.value.size() < s.min_length) return fail(fmt::format("{} must be at least {} characters.", s.name, s.min_length));
  }
  return {};
}

fallible<void> load_secrets(api_config& config, const std::map<std::string, std::string>& environment) {
  for (auto [name, field] : {std::pair{"SMS_BRIDGE_HMAC_SECRET", &config.hmac_secret},
                             std::pair{"SMS_BRIDGE_SMS_API_KEY", &config.sms_api_key},
                             std::pair{"SMS_BRIDGE_DATABASE_PASSWORD", &config.database_password},
                             std::pair{"SMS_BRIDGE_ADMIN_PASSWORD", &config.admin_password}}) {
    auto path = config.secret_files.find(name);
    if (path == config.secret_files.end()) continue;
    auto value = read_secret_file(name, path->second);
    if (!value) return value.error();
    *field = std::move(*value);
  }
  if (!config.secrets_file.empty()) {
    std::ifstream in(config.secrets_file);
    if (!in) return fail(fmt::format("cannot read the secrets file {}.", config.secrets_file));
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      const auto eq = line.find('=');
      if (eq == std::string::npos) return fail(fmt::format("the secrets file {} has a line that is not KEY=VALUE.", config.secrets_file));
      const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
      if (key == "SMS_BRIDGE_HMAC_SECRET" && config.hmac_secret.empty()) config.hmac_secret = value;
      else if (key == "SMS_BRIDGE_SMS_API_KEY" && config.sms_api_key.empty()) config.sms_api_key = value;
      else if (key != "SMS_BRIDGE_HMAC_SECRET" && key != "SMS_BRIDGE_SMS_API_KEY") {
        return fail(fmt::format("the secrets file {} names an unknown key '{}'.", config.secrets_file, key));
      }
    }
  }
  return check_secrets(config, environment);
}

}  // namespace smsbridge::api
