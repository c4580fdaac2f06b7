// Typed network values (addresses, CIDRs, targets): how both daemons read addresses, and the only
// form in which addresses reach nft.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace smsbridge::firewall {

enum class ip_family { v4, v6 };

// A numeric IPv4 or IPv6 address, parsed with inet_pton and printed with inet_ntop.
struct ip_address {
  ip_family family = ip_family::v4;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4

  std::string to_string() const;
  bool is_loopback() const;
  bool is_unspecified() const;
  friend bool operator==(const ip_address&, const ip_address&) = default;
};

// A network: address with no host bits set, and a prefix length.
struct cidr {
  ip_address network;
  unsigned prefix = 32;

  std::string to_string() const;   // always "addr/len"
  bool contains(const ip_address& a) const;
  friend bool operator==(const cidr&, const cidr&) = default;
};

// A forwarding target "ADDR:PORT" ("[ADDR]:PORT" for IPv6).
struct endpoint {
  ip_address address;
  std::uint16_t port = 0;

  std::string to_string() const;
  friend bool operator==(const endpoint&, const endpoint&) = default;
};

// Failures are sentences naming the offending text.
template <class T>
using parse_result = fallible<T>;

// A literal address only: hostnames are refused (nft would resolve them by DNS).
parse_result<ip_address> parse_ip_address(std::string_view text);

// "a.b.c.d/n", "x::y/n", or a bare address (a host: /32 or /128). Host bits must be zero.
parse_result<cidr> parse_cidr(std::string_view text);

// "a.b.c.d:port" or "[x::y]:port"; port 1..65535.
parse_result<endpoint> parse_endpoint(std::string_view text);

}  // namespace smsbridge::firewall
