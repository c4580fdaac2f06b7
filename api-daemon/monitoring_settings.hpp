// The monitoring part of sms_settings.json (seed format): which doors exist, on which external port.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace smsbridge::api {

struct monitoring_port {
  std::uint16_t port = 0;
  bool enabled = true;
  std::string description;
};

// service name -> door, from settings.monitoring_ports.
using monitoring_ports = std::map<std::string, monitoring_port>;

// The seed's defaults: metrics 9100, postgres 5433, pgbouncer 6434 (disabled), redis 6380.
monitoring_ports default_monitoring_ports();

// Parses a seed-format settings file's text. Other sections are left alone (and kept on write).
fallible<monitoring_ports> parse_monitoring_ports(std::string_view json_text);

// Reads the file; a missing file gives the defaults. A file that exists but cannot be read, or
// does not parse, fails with a sentence naming the file (never the defaults).
fallible<monitoring_ports> load_monitoring_ports(const std::string& path);

}  // namespace smsbridge::api
