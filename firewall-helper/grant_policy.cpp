// The helper's grant policy: one predicate for Open and for restoring recorded doors.
#include "firewall-helper/grant_policy.hpp"

#include <fmt/format.h>

namespace smsbridge::firewall {

namespace {
refusal refuse(v1::ErrorCode code, std::string message) { return refusal{code, std::move(message)}; }
const char* family_name(ip_family f) { return f == ip_family::v4 ? "IPv4" : "IPv6"; }
}  // namespace

std::optional<std::string> port_not_allowed(const helper_config& config, std::uint16_t port) {
  if (config.forbidden_ports.count(port)) return std::string("forbidden by the helper config");
  if (port < config.port_min || port > config.port_max) {
    return fmt::format("outside the allowed range {} to {}", config.port_min, config.port_max);
  }
  return std::nullopt;
}

boost::system::result<allowed_grant, refusal> validate_open(const helper_config& config, const grant_request& request) {
  if (!is_valid_service_name(request.service)) {
    return refuse(v1::INVALID_ARGUMENT, "The service name must be 1 to 32 of a-z, 0-9, '_' and '-'.");
  }
  const service_config* svc = config.find_service(request.service);
  if (!svc) return refuse(v1::UNKNOWN_SERVICE, fmt::format("The firewall helper has no service named '{}'.", request.service));
  if (request.external_port == 0 || request.external_port > 65535) {
    return refuse(v1::INVALID_ARGUMENT, fmt::format("External port {} is not a TCP port (1 to 65535).", request.external_port));
  }
  const auto port = static_cast<std::uint16_t>(request.external_port);
  if (auto why = port_not_allowed(config, port)) {
    return refuse(v1::PORT_FORBIDDEN, fmt::format("External port {} is {}.", port, *why));
  }
  if (request.duration_seconds &&
      (*request.duration_seconds < config.duration_min || *request.duration_seconds > config.duration_max)) {
    return refuse(v1::DURATION_OUT_OF_RANGE, fmt::format("A door may stay open from {} to {} seconds, not {}.",
                                                         config.duration_min, config.duration_max, *request.duration_seconds));
  }
  auto source = parse_cidr(request.source);
  if (!source) return refuse(v1::INVALID_ARGUMENT, fmt::format("The source is invalid: {}", source.error()));
  if (auto why = source_refusal(config, *source)) return refuse(v1::SOURCE_NOT_ALLOWED, *why);
  const ip_family target = svc->target.address.family;
  if (source->network.family != target) {
    return refuse(v1::SOURCE_NOT_ALLOWED, fmt::format("Service '{}' forwards to an {} address, so the source must be {} too.",
                                                      svc->name, family_name(target), family_name(target)));
  }
  return allowed_grant{svc, port, *source};
}

}  // namespace smsbridge::firewall
