// The nf_tables notice filter: a transaction by another process that touches our table asks for
// a reconcile once it commits; our own transactions, other tables, other families and malformed
// bytes do not.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <cstring>
#include <string>

#include "firewall-helper/nft_notices.hpp"

using namespace smsbridge::firewall;

namespace {
std::string pad(std::string s) {
  s.resize((s.size() + 3) & ~std::size_t{3}, '\0');
  return s;
}

std::string attr(std::uint16_t type, const std::string& payload) {
  nlattr a{static_cast<std::uint16_t>(sizeof(nlattr) + payload.size()), type};
  std::string out(reinterpret_cast<const char*>(&a), sizeof a);
  return pad(out + payload);
}

std::string message(unsigned kind, std::uint8_t family, const std::string& attrs) {
  nfgenmsg g{family, NFNETLINK_V0, 0};
  std::string body = pad(std::string(reinterpret_cast<const char*>(&g), sizeof g)) + attrs;
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(NLMSG_HDRLEN + body.size());
  h.nlmsg_type = static_cast<std::uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | kind);
  return pad(std::string(reinterpret_cast<const char*>(&h), sizeof h)) + body;
}

std::string table_message(unsigned kind, const std::string& table, std::uint8_t family = NFPROTO_INET) {
  return message(kind, family, attr(1, table + std::string(1, '\0')));
}

std::string newgen(std::uint32_t pid) {
  const std::uint32_t be = htonl(pid);
  return message(NFT_MSG_NEWGEN, AF_UNSPEC, attr(NFTA_GEN_ID, std::string(4, '\1')) +
                                                attr(NFTA_GEN_PROC_PID, std::string(reinterpret_cast<const char*>(&be), 4)) +
                                                attr(NFTA_GEN_PROC_NAME, std::string("nft\0", 4)));
}
}  // namespace

TEST_CASE("nft flush ruleset by another process asks for a reconcile when it commits") {
  nft_notice_filter f("sms_bridge", 100);
  CHECK_FALSE(f.feed(table_message(NFT_MSG_DELTABLE, "other", NFPROTO_IPV4)));
  CHECK_FALSE(f.feed(table_message(NFT_MSG_DELTABLE, "sms_bridge")));  // not committed yet
  CHECK(f.feed(newgen(4242)));
  CHECK_FALSE(f.feed(newgen(4242)));  // the next transaction touched nothing of ours
}

TEST_CASE("every kind of change inside our table counts, in one datagram or many") {
  for (unsigned kind : {NFT_MSG_DELCHAIN, NFT_MSG_DELRULE, NFT_MSG_NEWRULE, NFT_MSG_DELSET, NFT_MSG_DELSETELEM,
                        NFT_MSG_NEWSETELEM}) {
    nft_notice_filter f("sms_bridge", 100);
    INFO(kind);
    CHECK(f.feed(table_message(kind, "sms_bridge") + newgen(7)));
  }
}

TEST_CASE("our own transactions, other tables and other families are ignored") {
  nft_notice_filter f("sms_bridge", 100);
  CHECK_FALSE(f.feed(table_message(NFT_MSG_DELSETELEM, "sms_bridge") + newgen(100)));  // ours
  CHECK_FALSE(f.feed(table_message(NFT_MSG_NEWRULE, "filter") + newgen(7)));          // another table
  CHECK_FALSE(f.feed(table_message(NFT_MSG_DELTABLE, "sms_bridge", NFPROTO_IPV4) + newgen(7)));  // ip, not inet
  CHECK_FALSE(f.feed(table_message(NFT_MSG_NEWRULE, "sms_bridge_x") + newgen(7)));
}

TEST_CASE("malformed notices are skipped without reading out of bounds") {
  nft_notice_filter f("sms_bridge", 100);
  const std::string good = table_message(NFT_MSG_DELTABLE, "sms_bridge") + newgen(7);
  for (std::size_t cut = 0; cut < good.size(); ++cut) (void)f.feed(good.substr(0, cut));
  CHECK_FALSE(f.feed(std::string(3, '\xff')));
  std::string lying = good;
  lying[0] = '\x7f';  // nlmsg_len larger than the datagram
  CHECK_FALSE(f.feed(lying));
  nft_notice_filter fresh("sms_bridge", 100);
  CHECK(fresh.feed(good));
}
