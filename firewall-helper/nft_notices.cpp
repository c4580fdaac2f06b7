// nf_tables notifications: the one place that opens the NFNLGRP_NFTABLES socket, and the parser
// of its messages (plain netlink framing, read with bounds checks only).
#include "firewall-helper/nft_notices.hpp"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>

namespace smsbridge::firewall {

namespace {
constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

// The payload of attribute `type` among the attributes in `attrs`, or nullopt.
std::optional<std::string_view> attribute(std::string_view attrs, std::uint16_t type) {
  while (attrs.size() >= sizeof(nlattr)) {
    nlattr a;
    std::memcpy(&a, attrs.data(), sizeof a);
    if (a.nla_len < sizeof(nlattr) || a.nla_len > attrs.size()) return std::nullopt;
    if ((a.nla_type & NLA_TYPE_MASK) == type) return attrs.substr(sizeof(nlattr), a.nla_len - sizeof(nlattr));
    attrs.remove_prefix(std::min(attrs.size(), align4(a.nla_len)));
  }
  return std::nullopt;
}
}  // namespace

bool nft_notice_filter::feed(std::string_view datagram) {
  bool changed = false;
  while (datagram.size() >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    std::memcpy(&h, datagram.data(), sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > datagram.size()) break;
    const std::string_view message = datagram.substr(0, h.nlmsg_len);
    datagram.remove_prefix(std::min(datagram.size(), align4(h.nlmsg_len)));
    if ((h.nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES) continue;
    const unsigned kind = h.nlmsg_type & 0xff;
    if (message.size() < NLMSG_HDRLEN + sizeof(nfgenmsg)) continue;
    nfgenmsg g;
    std::memcpy(&g, message.data() + NLMSG_HDRLEN, sizeof g);
    const std::string_view attrs = message.substr(std::min(message.size(), NLMSG_HDRLEN + align4(sizeof(nfgenmsg))));
    if (kind == NFT_MSG_NEWGEN) {
      // The end of a transaction: who committed it?
      std::uint32_t pid = 0;
      if (auto p = attribute(attrs, NFTA_GEN_PROC_PID); p && p->size() == 4) {
        std::memcpy(&pid, p->data(), 4);
        pid = ntohl(pid);
      }
      if (touched_ && pid != self_pid_) changed = true;
      touched_ = false;
      continue;
    }
    if (kind == NFT_MSG_GETGEN || kind == NFT_MSG_TRACE || g.nfgen_family != NFPROTO_INET) continue;
    // Every other message names its table in attribute 1 (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE,
    // NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE, NFTA_OBJ_TABLE, ...).
    auto name = attribute(attrs, 1);
    if (!name) continue;
    std::string_view n = *name;
    if (auto nul = n.find('\0'); nul != std::string_view::npos) n = n.substr(0, nul);
    if (n == table_) touched_ = true;
  }
  return changed;
}

fallible<int> open_nft_notice_socket() {
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER);
  if (fd < 0) return fail(fmt::format("cannot open a netfilter netlink socket: {}", std::strerror(errno)));
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  int group = NFNLGRP_NFTABLES;
  // A larger receive buffer rides out a big transaction (a flush of a large ruleset) without
  // ENOBUFS; an overrun is still handled (a full reconcile).
  int bytes = 1 << 20;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0) {
    const int e = errno;
    ::close(fd);
    return fail(fmt::format("cannot subscribe to nf_tables notifications: {}", std::strerror(e)));
  }
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  return fd;
}

notice_drain drain_nft_notices(int fd, nft_notice_filter& filter, unsigned max_datagrams) {
  notice_drain out;
  static std::array<char, 1 << 16> buffer;  // one thread reads it: the helper's I/O thread
  for (unsigned i = 0; i < max_datagrams; ++i) {
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        out.overrun = true;
        continue;
      }
      break;  // EAGAIN: drained
    }
    if (filter.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)))) out.changed = true;
  }
  return out;
}

}  // namespace smsbridge::firewall
