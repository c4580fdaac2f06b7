// The host's TCP sockets via netlink sock_diag (NETLINK_SOCK_DIAG, what `ss` reads). It needs
// only AF_NETLINK, so it works under the unit's RestrictAddressFamilies=AF_UNIX AF_NETLINK, where
// a bind test cannot even create its AF_INET socket.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace smsbridge::firewall {

// Whether a TCP socket of this network namespace (IPv4 or IPv6) listens on local port `port`: a
// process serves there, and a door's DNAT would take its new connections. nullopt when the kernel
// could not be asked or its answer was not understood; never "not bound" on a failure.
// Listeners only: the kernel then walks its small listening table and skips the established one
// (262,144 buckets on a 24 GiB host: ~1.1 ms per family, against ~12 µs), and an established
// connection on the port is untouched by a door, which conntrack applies to new connections only.
std::optional<bool> tcp_port_bound(std::uint16_t port);

// What one datagram of a sock_diag dump says (pure, for tests): `bound` set when a socket with
// local port `port` is in it, `done` at NLMSG_DONE, `failed` at NLMSG_ERROR or malformed input.
struct diag_scan {
  bool bound = false;
  bool done = false;
  bool failed = false;
};
void scan_diag_datagram(std::string_view datagram, std::uint16_t port, diag_scan& scan);

}  // namespace smsbridge::firewall
