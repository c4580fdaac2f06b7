// Typed network values: parsing with inet_pton, printing with inet_ntop, prefix arithmetic.
#include "proto/net_types.hpp"

#include <arpa/inet.h>

#include <charconv>

#include <fmt/format.h>

namespace smsbridge::firewall {

namespace {
constexpr std::size_t max_text = 64;

unsigned width(ip_family f) { return f == ip_family::v4 ? 32 : 128; }

bool parse_unsigned(std::string_view text, unsigned& out) {
  if (text.empty() || text.size() > 5) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}
}  // namespace

std::string ip_address::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == ip_family::v4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof text);
  return text;
}

bool ip_address::is_loopback() const {
  if (family == ip_family::v4) return bytes[0] == 127;
  for (std::size_t i = 0; i < 15; ++i)
    if (bytes[i] != 0) return false;
  return bytes[15] == 1;
}

bool ip_address::is_unspecified() const {
  const std::size_t n = family == ip_family::v4 ? 4 : 16;
  for (std::size_t i = 0; i < n; ++i)
    if (bytes[i] != 0) return false;
  return true;
}

std::string cidr::to_string() const { return fmt::format("{}/{}", network.to_string(), prefix); }

bool cidr::contains(const ip_address& a) const {
  if (a.family != network.family) return false;
  for (unsigned bit = 0; bit < prefix; ++bit) {
    const unsigned byte = bit / 8, mask = 0x80u >> (bit % 8);
    if ((a.bytes[byte] & mask) != (network.bytes[byte] & mask)) return false;
  }
  return true;
}

std::string endpoint::to_string() const {
  if (address.family == ip_family::v6) return fmt::format("[{}]:{}", address.to_string(), port);
  return fmt::format("{}:{}", address.to_string(), port);
}

parse_result<ip_address> parse_ip_address(std::string_view text) {
  if (text.empty()) return fail("An address is required.");
  if (text.size() > max_text) return fail(fmt::format("The address is longer than {} characters.", max_text));
  const std::string copy(text);
  ip_address out;
  if (inet_pton(AF_INET, copy.c_str(), out.bytes.data()) == 1) {
    out.family = ip_family::v4;
    return out;
  }
  if (inet_pton(AF_INET6, copy.c_str(), out.bytes.data()) == 1) {
    out.family = ip_family::v6;
    return out;
  }
  return fail(fmt::format("'{}' is not a numeric IPv4 or IPv6 address (hostnames are not accepted).", copy));
}

parse_result<cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  auto address = parse_ip_address(text.substr(0, slash));
  if (!address) return address.error();
  cidr out{*address, width(address->family)};
  if (slash != std::string_view::npos) {
    unsigned prefix = 0;
    if (!parse_unsigned(text.substr(slash + 1), prefix) || prefix > width(address->family)) {
      return fail(fmt::format("'{}' has an invalid prefix length (0 to {}).", text, width(address->family)));
    }
    out.prefix = prefix;
  }
  for (unsigned bit = out.prefix; bit < width(out.network.family); ++bit) {
    if (out.network.bytes[bit / 8] & (0x80u >> (bit % 8))) {
      cidr fixed = out;
      for (unsigned b = out.prefix; b < width(out.network.family); ++b)
        fixed.network.bytes[b / 8] = static_cast<std::uint8_t>(fixed.network.bytes[b / 8] & ~(0x80u >> (b % 8)));
      return fail(fmt::format("'{}' has host bits set; did you mean {}?", text, fixed.to_string()));
    }
  }
  return out;
}

parse_result<endpoint> parse_endpoint(std::string_view text) {
  std::string_view host, port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return fail(fmt::format("'{}' is not \"[IPV6]:PORT\".", text));
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return fail(fmt::format("'{}' is not \"ADDR:PORT\" (write IPv6 targets as \"[ADDR]:PORT\").", text));
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  auto address = parse_ip_address(host);
  if (!address) return address.error();
  unsigned port = 0;
  if (!parse_unsigned(port_text, port) || port == 0 || port > 65535) {
    return fail(fmt::format("'{}' has an invalid port (1 to 65535).", text));
  }
  return endpoint{*address, static_cast<std::uint16_t>(port)};
}

}  // namespace smsbridge::firewall
