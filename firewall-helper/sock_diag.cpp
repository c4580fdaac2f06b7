// The one place that speaks NETLINK_SOCK_DIAG: a dump of TCP sockets per family, read with bounds
// checks only.
#include "firewall-helper/sock_diag.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace smsbridge::firewall {

namespace {
constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

// One family's dump; false if it could not be read to its end.
bool dump_family(int fd, std::uint8_t family, std::uint16_t port, diag_scan& scan) {
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.request.sdiag_family = family;
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = 1u << TCP_LISTEN;  // see tcp_port_bound
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &message, sizeof message, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) != sizeof message) return false;
  std::array<char, 1 << 16> buffer;
  scan.done = false;
  // Bounded: a dump of a million sockets is about 100 MB; past 10,000 datagrams we give up.
  for (int i = 0; i < 10000 && !scan.done; ++i) {
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    scan_diag_datagram(std::string_view(buffer.data(), static_cast<std::size_t>(n)), port, scan);
    if (scan.failed) return false;
  }
  return scan.done;
}
}  // namespace

void scan_diag_datagram(std::string_view datagram, std::uint16_t port, diag_scan& scan) {
  while (datagram.size() >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    std::memcpy(&h, datagram.data(), sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > datagram.size()) {
      scan.failed = true;
      return;
    }
    const std::string_view message = datagram.substr(0, h.nlmsg_len);
    datagram.remove_prefix(std::min(datagram.size(), align4(h.nlmsg_len)));
    if (h.nlmsg_type == NLMSG_DONE) {
      scan.done = true;
      return;
    }
    if (h.nlmsg_type == NLMSG_ERROR) {
      scan.failed = true;
      return;
    }
    if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
    if (message.size() < NLMSG_HDRLEN + sizeof(inet_diag_msg)) {
      scan.failed = true;
      return;
    }
    inet_diag_msg m;
    std::memcpy(&m, message.data() + NLMSG_HDRLEN, sizeof m);
    if (ntohs(m.id.idiag_sport) == port) scan.bound = true;
  }
}

std::optional<bool> tcp_port_bound(std::uint16_t port) {
  fd_guard g{::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)};
  if (g.fd < 0) return std::nullopt;
  // A kernel that does not answer within a second is an unknown, not a free port.
  timeval limit{1, 0};
  ::setsockopt(g.fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  diag_scan scan;
  for (std::uint8_t family : {std::uint8_t{AF_INET}, std::uint8_t{AF_INET6}}) {
    if (!dump_family(g.fd, family, port, scan)) return std::nullopt;
    if (scan.bound) return true;
  }
  return false;
}

}  // namespace smsbridge::firewall
