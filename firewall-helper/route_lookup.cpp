// The route lookup over rtnetlink (RTM_GETROUTE with RTA_DST), the one user of NETLINK_ROUTE.
#include "firewall-helper/route_lookup.hpp"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cstring>

namespace smsbridge::firewall {

namespace {
struct fd_closer {
  int fd;
  ~fd_closer() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace

std::string default_route_source_v4() {
  fd_closer sock{::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)};
  if (sock.fd < 0) return "";
  const timeval timeout{1, 0};
  ::setsockopt(sock.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

  struct {
    nlmsghdr header;
    rtmsg route;
    std::array<char, RTA_SPACE(4)> attributes;
  } request{};
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg)) + RTA_SPACE(4);
  request.header.nlmsg_type = RTM_GETROUTE;
  request.header.nlmsg_flags = NLM_F_REQUEST;
  request.header.nlmsg_seq = 1;
  request.route.rtm_family = AF_INET;
  request.route.rtm_dst_len = 32;
  auto* dst = reinterpret_cast<rtattr*>(request.attributes.data());
  dst->rta_type = RTA_DST;
  dst->rta_len = RTA_LENGTH(4);
  // TEST-NET-1 (RFC 5737): routed by the default route, never a real host.
  const in_addr documentation{htonl(0xC0000201)};
  std::memcpy(RTA_DATA(dst), &documentation, 4);
  if (::send(sock.fd, &request, request.header.nlmsg_len, 0) < 0) return "";

  alignas(nlmsghdr) std::array<char, 8192> buffer{};
  const ssize_t n = ::recv(sock.fd, buffer.data(), buffer.size(), 0);
  if (n <= 0) return "";
  auto left = static_cast<unsigned>(n);
  for (auto* h = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
    if (h->nlmsg_type != RTM_NEWROUTE) return "";  // NLMSG_ERROR: no route (ENETUNREACH)
    auto* route = static_cast<rtmsg*>(NLMSG_DATA(h));
    auto attributes_left = static_cast<unsigned>(RTM_PAYLOAD(h));
    for (auto* a = RTM_RTA(route); RTA_OK(a, attributes_left); a = RTA_NEXT(a, attributes_left)) {
      if (a->rta_type != RTA_PREFSRC || RTA_PAYLOAD(a) != 4) continue;
      std::array<char, INET_ADDRSTRLEN> text{};
      if (!::inet_ntop(AF_INET, RTA_DATA(a), text.data(), text.size())) return "";
      return text.data();
    }
    return "";
  }
  return "";
}

}  // namespace smsbridge::firewall
