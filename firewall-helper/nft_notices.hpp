// nf_tables change notifications (the NFNLGRP_NFTABLES netlink multicast group, what `nft monitor`
// shows): the socket, and a pure filter that says when another process changed our table. The
// helper repairs drift the moment it happens instead of polling, and sleeps while nothing changes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace smsbridge::firewall {

// Reads the notification datagrams of nf_tables transactions. A transaction's messages (one per
// table, chain, rule, set or element it touched) end with a NEWGEN message that names the pid of
// the process that committed it. `feed` answers true when a transaction committed by a process
// other than `self_pid` touched table `inet <table>` (created, changed or deleted anything in it,
// or the table itself, as `nft flush ruleset` does). Malformed input is ignored, never trusted:
// the worst it can do is cause or skip one reconcile.
class nft_notice_filter {
 public:
  nft_notice_filter(std::string table, std::uint32_t self_pid) : table_(std::move(table)), self_pid_(self_pid) {}
  bool feed(std::string_view datagram);

 private:
  std::string table_;
  std::uint32_t self_pid_;
  bool touched_ = false;  // a message of the transaction in progress concerned our table
};

// A netlink socket (NETLINK_NETFILTER, non-blocking, close-on-exec) subscribed to NFNLGRP_NFTABLES
// in the caller's network namespace. Fails with a sentence (e.g. without CAP_NET_ADMIN).
fallible<int> open_nft_notice_socket();

// What draining the socket found.
struct notice_drain {
  bool changed = false;  // the filter said so for at least one datagram
  bool overrun = false;  // the kernel dropped notifications (ENOBUFS): anything may have changed
};
// Reads every datagram waiting on `fd` (at most `max_datagrams`) through `filter`.
notice_drain drain_nft_notices(int fd, nft_notice_filter& filter, unsigned max_datagrams = 4096);

}  // namespace smsbridge::firewall
