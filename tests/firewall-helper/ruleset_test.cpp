// Ruleset rendering from typed values, and the parse of a real `nft -j list table` capture.
#include <catch2/catch.hpp>

#include "result_string_maker.hpp"

#include <fstream>
#include <sstream>

#include "firewall-helper/ruleset.hpp"

using namespace smsbridge::firewall;
using std::chrono::milliseconds;

namespace {
helper_config test_config() {
  return *parse_config(R"({"services": {"metrics": {"target": "127.0.0.1:8080"},
                                        "pg": {"target": "10.9.0.2:5432", "masquerade": true},
                                        "v6": {"target": "[fd00::5]:80"}}})");
}

std::string fixture(const char* name) {
  std::ifstream in(std::string(FIXTURE_DIR) + "/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }
}  // namespace

TEST_CASE("the table is replaced in one buffer that works whether or not it exists") {
  const auto text = render_table(test_config(), {});
  CHECK(text.rfind("add table inet sms_bridge\ndelete table inet sms_bridge\ntable inet sms_bridge {\n", 0) == 0);
  CHECK(contains(text, "dnat ip to tcp dport map @fwd4"));
  CHECK(contains(text, "ct mark set ct mark | 0x00100000"));
  CHECK(contains(text, "meta nfproto ipv4 meta l4proto tcp ct original ip saddr . ct original proto-dst @grant_hosts4 return"));
  CHECK(contains(text, "meta nfproto ipv4 meta l4proto tcp ct original ip saddr . ct original proto-dst @grant_nets4 return"));
  CHECK(contains(text, "set grant_hosts4 {\n    type ipv4_addr . inet_service\n    flags timeout\n"));
  CHECK(contains(text, "set grant_nets4 {\n    type ipv4_addr . inet_service\n    flags interval,timeout\n"));
  CHECK(contains(text, "iifname != \"lo\" ip daddr 127.0.0.0/8 ct status & dnat == 0 drop"));
  CHECK(contains(text, "elements = { 10.9.0.2 . 5432 }"));  // only the masquerade service
  CHECK_FALSE(contains(text, "127.0.0.1 . 8080 }"));
  CHECK_FALSE(contains(text, "} }"));  // does not parse in nft 1.0.6
}

TEST_CASE("a host grant goes to the hash set, a network grant to the interval set") {
  const grant_rule host{*parse_cidr("10.0.0.2"), 9100, *parse_endpoint("127.0.0.1:8080")};
  CHECK(contains(render_add_grant("t", host, milliseconds(1000)), "add element inet t grant_hosts4 { 10.0.0.2 . 9100 timeout 1s }"));
  const grant_rule v6host{*parse_cidr("fd00::7"), 9100, *parse_endpoint("[fd00::5]:80")};
  CHECK(contains(render_add_grant("t", v6host, milliseconds(1000)), "grant_hosts6 { fd00::7 . 9100 timeout 1s }"));
}

TEST_CASE("a grant renders as a map entry plus a set element with a timeout") {
  const grant_rule g{*parse_cidr("10.0.0.0/24"), 9100, *parse_endpoint("127.0.0.1:8080")};
  CHECK(render_add_grant("t", g, milliseconds(900000)) ==
        "add element inet t fwd4 { 9100 : 127.0.0.1 . 8080 }\n"
        "add element inet t grant_nets4 { 10.0.0.0/24 . 9100 timeout 900s }\n");
  CHECK(render_delete_grant("t", g, true) ==
        "delete element inet t grant_nets4 { 10.0.0.0/24 . 9100 }\n"
        "delete element inet t fwd4 { 9100 }\n");
  const grant_rule v6{*parse_cidr("fd00:1::/64"), 9102, *parse_endpoint("[fd00::5]:80")};
  CHECK(contains(render_add_grant("t", v6, milliseconds(1500)), "grant_nets6 { fd00:1::/64 . 9102 timeout 1s500ms }"));
  CHECK(contains(render_add_grant("t", v6, milliseconds(1500)), "fwd6 { 9102 : fd00::5 . 80 }"));
}

TEST_CASE("re-added grants carry their remaining time in the table batch") {
  const grant_rule g{*parse_cidr("10.0.0.2"), 9100, *parse_endpoint("127.0.0.1:8080")};
  const auto text = render_table(test_config(), {{g, milliseconds(42500)}});
  CHECK(contains(text, "grant_hosts4 { 10.0.0.2 . 9100 timeout 42s500ms }"));
}

TEST_CASE("a timeout never renders as 0, which nftables reads as 'never expires'") {
  CHECK(render_timeout(milliseconds(0)) == "1ms");
  CHECK(render_timeout(milliseconds(-5)) == "1ms");
  CHECK(render_timeout(milliseconds(250)) == "250ms");
  CHECK(render_timeout(milliseconds(3000)) == "3s");
}

TEST_CASE("the kernel listing yields its grants and forwards") {
  auto view = parse_kernel_view(fixture("kernel_listing.json"));
  REQUIRE(view);
  CHECK(view->table_present);
  CHECK(view->skeleton_intact);
  CHECK(view->grants == std::set<std::pair<std::string, std::uint16_t>>{
                            {"10.250.2.2/32", 9100}, {"10.1.0.0/24", 5433}, {"fd00:1::/64", 9102}});
  CHECK(view->forwards.at(9100) == "127.0.0.1:8080");
  CHECK(view->forwards.at(9102) == "[fd00::5]:80");
}

TEST_CASE("a table missing a chain is seen as damaged, an absent table as absent") {
  auto damaged = parse_kernel_view(fixture("kernel_listing_damaged.json"));
  REQUIRE(damaged);
  CHECK(damaged->table_present);
  CHECK_FALSE(damaged->skeleton_intact);
  auto absent = parse_kernel_view("");
  REQUIRE(absent);
  CHECK_FALSE(absent->table_present);
  CHECK_FALSE(parse_kernel_view("not json"));
}
