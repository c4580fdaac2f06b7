// The one answer to "does the helper's config allow this door?", asked when a door is opened and
// again when a recorded door is restored at start-up. Pure: no state, no kernel, no log.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>

#include "firewall-helper/config.hpp"
#include "firewall.pb.h"
#include "proto/net_types.hpp"

namespace smsbridge::firewall {

// A refused request: a code from the closed enum and a sentence safe to show a person.
struct refusal {
  v1::ErrorCode code;
  std::string message;
};

// A door as asked for (by a client) or as recorded (in the state file), before any check.
struct grant_request {
  std::string_view service;
  std::uint32_t external_port = 0;
  std::string_view source;
  // The length asked for. nullopt for a recorded door: its length was checked when it opened, and
  // the recorded wall-clock times cannot measure it (a clock step moves them); the caller bounds
  // its remaining time by duration_max instead.
  std::optional<std::uint32_t> duration_seconds;
};

// A door the config allows, in typed form.
struct allowed_grant {
  const service_config* service = nullptr;  // points into the config
  std::uint16_t external_port = 0;
  cidr source;
};

// Checks, in this order: the service name's syntax, that the config names the service, that the
// port is a TCP port, not forbidden and within external_ports, the duration's bounds, that the
// source parses, is not wider than the config allows, and has the target's address family.
// Fails with the first refusal (INVALID_ARGUMENT, UNKNOWN_SERVICE, PORT_FORBIDDEN,
// DURATION_OUT_OF_RANGE or SOURCE_NOT_ALLOWED) and its sentence. Says nothing about the helper's
// state (a door already open, a port already granted or bound): the caller checks that.
boost::system::result<allowed_grant, refusal> validate_open(const helper_config& config, const grant_request& request);

// Why the config keeps `port` closed to every door ("forbidden by the helper config", "outside the
// allowed range 1024 to 65535"), as a phrase that completes "External port N is ..."; nullopt if
// the config allows it. `port` must be 1 to 65535.
std::optional<std::string> port_not_allowed(const helper_config& config, std::uint16_t port);

}  // namespace smsbridge::firewall
