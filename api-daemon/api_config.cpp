// sms-bridge-api's configuration: one table of settings drives parsing, validation and --help.
#include "api-daemon/api_config.hpp"

#include <charconv>
#include <functional>

#include <boost/asio/ip/address.hpp>
#include <fmt/format.h>

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
  unsigned port = 0;
  auto [end, perr] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || perr != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    return fail(fmt::format("{}: '{}' is not a port (0 to 65535).", name, port_text));
  }
  return listen_address{host, static_cast<std::uint16_t>(port)};
}



struct setting {
  setting_doc doc;
  std::function<fallible<void>(api_config&, const std::string& name, const std::string& value)> apply;
};

fallible<void> set_text(std::string& field, const std::string& name, const std::string& value) {
  if (value.size() > 4096) return fail(fmt::format("{} is longer than 4096 characters.", name));
  field = value;
  return {};
}

const std::vector<setting>& settings() {
  static const std::vector<setting> all = {
      {{"--database-url", "SMS_BRIDGE_DATABASE_URL", "postgresql:///sms_bridge", "PostgreSQL connection URL (libpq syntax)"},
       [](api_config& c, const std::string& n, const std::string& v) { return set_text(c.database_url, n, v); }},
      {{"--listen", "SMS_BRIDGE_LISTEN", "0.0.0.0:8080", "the public listener (this version serves /health)"},
       [](api_config& c, const std::string& n, const std::string& v) -> fallible<void> {
         auto a = parse_listen(n, v);
         if (!a) return a.error();
         c.listen = *a;
         return {};
       }},
      {{"--metrics-listen", "SMS_BRIDGE_METRICS_LISTEN", "127.0.0.1:9464", "the metrics listener (this version serves /health)"},
       [](api_config& c, const std::string& n, const std::string& v) -> fallible<void> {
         auto a = parse_listen(n, v);
         if (!a) return a.error();
         c.metrics_listen = *a;
         return {};
       }},
      {{"--firewall-socket", "SMS_BRIDGE_FIREWALL_SOCKET", "/run/sms-bridge/firewall.sock", "the firewall helper's socket (its state shows in /health)"},
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
      "usage: sms-bridge-api [OPTIONS]            serve (migrates the database first)\n"
      "       sms-bridge-api [OPTIONS] migrate    apply the database migrations and exit\n"
      "\n"
      "Every option can also be given as an environment variable; the option wins.\n"
      "\n";
  for (const auto& d : setting_docs()) {
    out += fmt::format("  {} VALUE\n      ${}  (default {})\n      {}\n", d.flag, d.variable, d.default_text, d.meaning);
  }
  out += "  -h, --help\n      this text\n"
         "\nexit codes: 0 stopped by a signal or command done; 1 cannot run (database, socket);\n"
         "            2 usage or configuration error.\n";
  return out;
}

fallible<command_line> parse_command_line(const std::map<std::string, std::string>& environment,
                                          const std::vector<std::string>& args) {
  command_line cl;
  for (const auto& s : settings()) {
    if (auto it = environment.find(s.doc.variable); it != environment.end()) {
      if (auto r = s.apply(cl.config, s.doc.variable, it->second); !r) return r.error();
    }
  }
  bool command_seen = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      cl.help = true;
      return cl;
    }
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
      continue;
    }
    if (!command_seen) {
      if (a != "serve" && a != "migrate") return fail(fmt::format("unknown command '{}'; see --help.", a));
      cl.command = a;
      command_seen = true;
      continue;
    }
    return fail(fmt::format("unexpected argument '{}'; see --help.", a));
  }
  return cl;
}

}  // namespace smsbridge::api
