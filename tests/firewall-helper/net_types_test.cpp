// Typed addresses: only numeric literals are accepted, CIDRs are canonical, targets parse both families.
#include <catch2/catch.hpp>

#include "result_string_maker.hpp"

#include "proto/net_types.hpp"

using namespace smsbridge::firewall;

TEST_CASE("a bare IPv4 address is a /32 and an IPv6 address a /128") {
  CHECK(parse_cidr("10.0.0.2")->to_string() == "10.0.0.2/32");
  CHECK(parse_cidr("2001:db8::1")->to_string() == "2001:db8::1/128");
  CHECK(parse_cidr("10.1.0.0/24")->to_string() == "10.1.0.0/24");
}

TEST_CASE("hostnames and junk are refused with a sentence") {
  auto r = parse_cidr("example.com");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("hostnames are not accepted") != std::string::npos);
  CHECK_FALSE(parse_cidr("10.0.0.1/33"));
  CHECK_FALSE(parse_cidr("10.0.0.1/"));
  CHECK_FALSE(parse_cidr("10.0.0.1/-1"));
  CHECK_FALSE(parse_cidr(""));
  CHECK_FALSE(parse_cidr("10.0.0.1; flush ruleset"));
}

TEST_CASE("a CIDR with host bits set is refused and the fix suggested") {
  auto r = parse_cidr("10.0.0.5/24");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("did you mean 10.0.0.0/24?") != std::string::npos);
}

TEST_CASE("a CIDR contains exactly its addresses") {
  auto net = *parse_cidr("10.1.0.0/24");
  CHECK(net.contains(*parse_ip_address("10.1.0.200")));
  CHECK_FALSE(net.contains(*parse_ip_address("10.1.1.1")));
  CHECK_FALSE(net.contains(*parse_ip_address("::1")));
  CHECK(parse_cidr("0.0.0.0/0")->contains(*parse_ip_address("203.0.113.9")));
}

TEST_CASE("targets parse as ADDR:PORT and [ADDR]:PORT") {
  auto v4 = parse_endpoint("127.0.0.1:8080");
  REQUIRE(v4);
  CHECK(v4->port == 8080);
  CHECK(v4->address.is_loopback());
  auto v6 = parse_endpoint("[fd00::1]:5432");
  REQUIRE(v6);
  CHECK(v6->to_string() == "[fd00::1]:5432");
  CHECK_FALSE(parse_endpoint("fd00::1:5432"));
  CHECK_FALSE(parse_endpoint("db.internal:5432"));
  CHECK_FALSE(parse_endpoint("127.0.0.1:0"));
  CHECK_FALSE(parse_endpoint("127.0.0.1:65536"));
}
