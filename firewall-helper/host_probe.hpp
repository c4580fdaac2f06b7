// What the helper asks of its host besides nftables: is a port in use, are the sysctls it needs set.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "firewall-helper/config.hpp"

namespace smsbridge::firewall {

// Whether a TCP socket of this host listens on a port; `unknown` when the host could not be asked.
enum class port_use { free, bound, unknown };

class host_probe {
 public:
  virtual ~host_probe() = default;
  // Whether a TCP socket of this host (the helper's network namespace) listens on the port.
  // A probe that cannot decide answers unknown, never free.
  virtual port_use port_in_use(std::uint16_t port) = 0;
  // Sentences about host settings that stop a configured door from working.
  virtual std::vector<std::string> warnings(const helper_config& config) = 0;
  // The source address the host's IPv4 default route uses, "" if there is no such route.
  virtual std::string default_route_address() = 0;
};

class linux_host_probe final : public host_probe {
 public:
  port_use port_in_use(std::uint16_t port) override;  // sock_diag: works under RestrictAddressFamilies
  std::vector<std::string> warnings(const helper_config& config) override;
  std::string default_route_address() override;
};

// True if the calling thread holds CAP_NET_ADMIN in its effective set.
bool has_cap_net_admin();

// Capabilities held beyond CAP_NET_ADMIN (effective set), for a least-privilege warning.
bool has_capabilities_beyond_net_admin();

}  // namespace smsbridge::firewall
