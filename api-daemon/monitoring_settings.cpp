// The monitoring part of sms_settings.json, parsed strictly with Boost.JSON.
#include "api-daemon/monitoring_settings.hpp"
#include "api-daemon/settings_file.hpp"


#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

namespace smsbridge::api {

monitoring_ports default_monitoring_ports() {
  return {
      {"metrics", {9100, true, "Prometheus metrics endpoint"}},
      {"postgres", {5433, true, "PostgreSQL database access"}},
      {"pgbouncer", {6434, false, "PgBouncer connection pooler"}},
      {"redis", {6380, true, "Redis cache access"}},
  };
}

fallible<monitoring_ports> parse_monitoring_ports(std::string_view json_text) {
  boost::system::error_code ec;
  const boost::json::value root = boost::json::parse(json_text, ec);
  if (ec) return fail(fmt::format("it is not valid JSON ({}).", ec.message()));
  const auto* settings = root.is_object() ? root.as_object().if_contains("settings") : nullptr;
  const auto* section = settings && settings->is_object() ? settings->as_object().if_contains("monitoring_ports") : nullptr;
  if (!section) return default_monitoring_ports();
  if (!section->is_object()) return fail("settings.monitoring_ports must be an object.");
  monitoring_ports out;
  for (const auto& [name, value] : section->as_object()) {
    const std::string where = fmt::format("settings.monitoring_ports.{}", std::string(name));
    if (name.empty() || name.size() > 32) return fail(fmt::format("{}: the service name must be 1 to 32 characters.", where));
    if (!value.is_object()) return fail(fmt::format("{} must be an object.", where));
    const auto& o = value.as_object();
    const auto* port = o.if_contains("port");
    if (!port || !port->is_int64() || port->as_int64() < 1 || port->as_int64() > 65535) {
      return fail(fmt::format("{}.port must be a whole number from 1 to 65535.", where));
    }
    monitoring_port p;
    p.port = static_cast<std::uint16_t>(port->as_int64());
    if (const auto* enabled = o.if_contains("enabled")) {
      if (!enabled->is_bool()) return fail(fmt::format("{}.enabled must be true or false.", where));
      p.enabled = enabled->as_bool();
    }
    if (const auto* description = o.if_contains("description")) {
      if (!description->is_string() || description->as_string().size() > 200) {
        return fail(fmt::format("{}.description must be a string of at most 200 characters.", where));
      }
      p.description = std::string(description->as_string());
    }
    out.emplace(std::string(name), std::move(p));
  }
  return out;
}

fallible<monitoring_ports> load_monitoring_ports(const std::string& path) {
  auto text = read_settings_text(path);
  if (!text) return text.error();
  if (!*text) return default_monitoring_ports();
  auto parsed = parse_monitoring_ports(**text);
  if (!parsed) return fail(fmt::format("settings file {}: {}", path, parsed.error().message));
  return parsed;
}

}  // namespace smsbridge::api
