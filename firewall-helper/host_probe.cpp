// Host checks: sock_diag for ports, /proc/sys reads for sysctls, capget for capabilities.
#include "firewall-helper/host_probe.hpp"
#include "firewall-helper/route_lookup.hpp"

#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "firewall-helper/sock_diag.hpp"

namespace smsbridge::firewall {

namespace {
// True if the address belongs to this host (network namespace): binding to it works.
bool is_local_address(const ip_address& a) {
  const int family = a.family == ip_family::v4 ? AF_INET : AF_INET6;
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int rc;
  if (family == AF_INET) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    std::memcpy(&sa.sin_addr, a.bytes.data(), 4);
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } else {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    std::memcpy(&sa.sin6_addr, a.bytes.data(), 16);
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }
  ::close(fd);
  return rc == 0;
}

int read_sysctl(const std::string& path) {
  std::ifstream in(path);
  int v = -1;
  if (in) in >> v;
  return v;
}

__u32 effective_caps_low() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return 0;
  return data[0].effective;
}

bool effective_caps_high_any() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  return data[1].effective != 0;
}
}  // namespace

port_use linux_host_probe::port_in_use(std::uint16_t port) {
  // Not a bind test: under the unit's RestrictAddressFamilies the AF_INET socket it needs cannot
  // be created, and that failure used to read as "free".
  const auto bound = tcp_port_bound(port);
  if (!bound) return port_use::unknown;
  return *bound ? port_use::bound : port_use::free;
}

std::vector<std::string> linux_host_probe::warnings(const helper_config& config) {
  std::vector<std::string> out;
  bool wants_localnet = false, wants_forward = false;
  for (const auto& [name, svc] : config.services) {
    if (svc.target.address.family == ip_family::v4 && svc.target.address.is_loopback()) wants_localnet = true;
    else if (!is_local_address(svc.target.address)) wants_forward = true;
  }
  if (wants_localnet) {
    // The kernel ORs conf/all with the ingress interface's own setting.
    bool any = read_sysctl("/proc/sys/net/ipv4/conf/all/route_localnet") == 1;
    std::error_code ec;
    for (const auto& dir : std::filesystem::directory_iterator("/proc/sys/net/ipv4/conf", ec)) {
      if (read_sysctl(dir.path().string() + "/route_localnet") == 1) any = true;
    }
    if (!any) {
      out.push_back("A service targets 127.0.0.1, but net.ipv4.conf.<ingress>.route_localnet is 0 on every interface: "
                    "its door cannot work until the deployment sets it on the interface clients arrive on.");
    }
  }
  if (wants_forward && read_sysctl("/proc/sys/net/ipv4/ip_forward") != 1) {
    out.push_back("A service targets an address of another host and net.ipv4.ip_forward is 0: "
                  "its door cannot work until the deployment enables forwarding.");
  }
  return out;
}

bool has_cap_net_admin() { return (effective_caps_low() & (1u << CAP_NET_ADMIN)) != 0; }

bool has_capabilities_beyond_net_admin() {
  return (effective_caps_low() & ~(1u << CAP_NET_ADMIN)) != 0 || effective_caps_high_any();
}

std::string linux_host_probe::default_route_address() { return default_route_source_v4(); }

}  // namespace smsbridge::firewall
