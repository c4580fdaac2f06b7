// sock_diag: the dump parser finds a socket by its local port, stops at DONE and fails (never
// "free") on an error or malformed input; against the kernel, a listening socket is seen.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>

#include "firewall-helper/sock_diag.hpp"

using namespace smsbridge::firewall;

namespace {
std::string diag_message(std::uint16_t sport) {
  struct {
    nlmsghdr h;
    inet_diag_msg m;
  } msg{};
  msg.h.nlmsg_len = sizeof msg;
  msg.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.m.idiag_family = AF_INET;
  msg.m.id.idiag_sport = htons(sport);
  return std::string(reinterpret_cast<const char*>(&msg), sizeof msg);
}

std::string control(std::uint16_t type) {
  nlmsghdr h{};
  h.nlmsg_len = NLMSG_LENGTH(sizeof(int));
  h.nlmsg_type = type;
  std::string out(reinterpret_cast<const char*>(&h), sizeof h);
  out.resize(NLMSG_ALIGN(h.nlmsg_len), '\0');
  return out;
}
}  // namespace

TEST_CASE("a dump names a port bound when a socket has it as its local port") {
  diag_scan s;
  scan_diag_datagram(diag_message(22) + diag_message(9100), 9100, s);
  CHECK(s.bound);
  CHECK_FALSE(s.done);
  scan_diag_datagram(control(NLMSG_DONE), 9100, s);
  CHECK(s.done);
  diag_scan other;
  scan_diag_datagram(diag_message(22) + control(NLMSG_DONE), 9100, other);
  CHECK_FALSE(other.bound);
  CHECK(other.done);
}

TEST_CASE("an error or malformed dump fails instead of reading as free") {
  diag_scan s;
  scan_diag_datagram(control(NLMSG_ERROR), 9100, s);
  CHECK(s.failed);
  diag_scan cut;
  const std::string m = diag_message(9100);
  scan_diag_datagram(m.substr(0, m.size() - 4), 9100, cut);
  CHECK(cut.failed);
  CHECK_FALSE(cut.bound);
}

namespace {
// A TCP listener on a loopback port the kernel picks: its fd and port (REQUIREs inside).
std::pair<int, sockaddr_in> loopback_listener() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  return {fd, a};
}
}  // namespace

TEST_CASE("the kernel's answer shows a listening socket and not a closed one") {
  const auto [fd, a] = loopback_listener();
  const std::uint16_t port = ntohs(a.sin_port);
  CHECK(tcp_port_bound(port) == std::optional<bool>(true));
  ::close(fd);
  CHECK(tcp_port_bound(port) == std::optional<bool>(false));
}

TEST_CASE("a connection left on a port whose listener closed does not make it bound") {
  // The door's DNAT takes new connections only; what matters is whether a process still serves.
  const auto [listener, a] = loopback_listener();
  const std::uint16_t port = ntohs(a.sin_port);
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(client >= 0);
  REQUIRE(::connect(client, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
  const int served = ::accept(listener, nullptr, nullptr);
  REQUIRE(served >= 0);
  CHECK(tcp_port_bound(port) == std::optional<bool>(true));
  ::close(listener);
  CHECK(tcp_port_bound(port) == std::optional<bool>(false));  // `served` is established on it
  ::close(served);
  ::close(client);
}
