// The grant policy: each refusal validate_open can give, and what it lets through.
#include <catch2/catch.hpp>

#include "result_string_maker.hpp"

#include <ostream>

#include "firewall-helper/grant_policy.hpp"

using namespace smsbridge;
using namespace smsbridge::firewall;

namespace smsbridge::firewall {
// For Catch2's messages about a result<allowed_grant, refusal>.
std::ostream& operator<<(std::ostream& os, const refusal& r) { return os << v1::ErrorCode_Name(r.code) << ": " << r.message; }
}  // namespace smsbridge::firewall

namespace {
helper_config policy_config() {
  return *parse_config(R"({
    "services": {"metrics": {"target": "127.0.0.1:8080"}, "v6svc": {"target": "[2001:db8::5]:443"}},
    "external_ports": {"min": 9000, "max": 9999, "forbidden": [9022]},
    "duration_seconds": {"min": 60, "max": 3600}
  })");
}

grant_request request(std::string_view service = "metrics", std::uint32_t port = 9100, std::string_view source = "10.0.0.2",
                      std::optional<std::uint32_t> seconds = 600) {
  return grant_request{service, port, source, seconds};
}

refusal refused(const helper_config& c, const grant_request& r) {
  auto result = validate_open(c, r);
  REQUIRE_FALSE(result);
  return result.error();
}
}  // namespace

TEST_CASE("a door the config allows comes back typed") {
  const auto c = policy_config();
  auto ok = validate_open(c, request());
  REQUIRE(ok);
  CHECK(ok->service == c.find_service("metrics"));
  CHECK(ok->external_port == 9100);
  CHECK(ok->source.to_string() == "10.0.0.2/32");
  CHECK(validate_open(c, request("v6svc", 9443, "2001:db8:1::/64")));
}

TEST_CASE("a service name that is not a name is INVALID_ARGUMENT") {
  const auto r = refused(policy_config(), request("Metrics!"));
  CHECK(r.code == v1::INVALID_ARGUMENT);
  CHECK(r.message == "The service name must be 1 to 32 of a-z, 0-9, '_' and '-'.");
}

TEST_CASE("a service the config does not name is UNKNOWN_SERVICE") {
  const auto r = refused(policy_config(), request("nosuch"));
  CHECK(r.code == v1::UNKNOWN_SERVICE);
  CHECK(r.message == "The firewall helper has no service named 'nosuch'.");
}

TEST_CASE("a port that is no TCP port is INVALID_ARGUMENT") {
  CHECK(refused(policy_config(), request("metrics", 0)).code == v1::INVALID_ARGUMENT);
  const auto r = refused(policy_config(), request("metrics", 70000));
  CHECK(r.code == v1::INVALID_ARGUMENT);
  CHECK(r.message == "External port 70000 is not a TCP port (1 to 65535).");
}

TEST_CASE("a forbidden port and a port outside the range are PORT_FORBIDDEN") {
  const auto c = policy_config();
  auto r = refused(c, request("metrics", 9022));
  CHECK(r.code == v1::PORT_FORBIDDEN);
  CHECK(r.message == "External port 9022 is forbidden by the helper config.");
  r = refused(c, request("metrics", 8999));
  CHECK(r.code == v1::PORT_FORBIDDEN);
  CHECK(r.message == "External port 8999 is outside the allowed range 9000 to 9999.");
  CHECK(refused(c, request("metrics", 10000)).code == v1::PORT_FORBIDDEN);
  CHECK(port_not_allowed(c, 9022) == std::optional<std::string>("forbidden by the helper config"));
  CHECK_FALSE(port_not_allowed(c, 9000));
  CHECK_FALSE(port_not_allowed(c, 9999));
}

TEST_CASE("a duration outside the bounds is DURATION_OUT_OF_RANGE, and a recorded door has none to check") {
  const auto c = policy_config();
  auto r = refused(c, request("metrics", 9100, "10.0.0.2", 59));
  CHECK(r.code == v1::DURATION_OUT_OF_RANGE);
  CHECK(r.message == "A door may stay open from 60 to 3600 seconds, not 59.");
  CHECK(refused(c, request("metrics", 9100, "10.0.0.2", 3601)).code == v1::DURATION_OUT_OF_RANGE);
  CHECK(validate_open(c, request("metrics", 9100, "10.0.0.2", 60)));
  CHECK(validate_open(c, request("metrics", 9100, "10.0.0.2", 3600)));
  CHECK(validate_open(c, request("metrics", 9100, "10.0.0.2", std::nullopt)));
}

TEST_CASE("a source that does not parse is INVALID_ARGUMENT") {
  const auto r = refused(policy_config(), request("metrics", 9100, "10.0.0.2; flush ruleset"));
  CHECK(r.code == v1::INVALID_ARGUMENT);
  CHECK(r.message.rfind("The source is invalid: ", 0) == 0);
}

TEST_CASE("a source wider than the config allows is SOURCE_NOT_ALLOWED, with the config's own sentence") {
  const auto c = policy_config();
  const auto r = refused(c, request("metrics", 9100, "10.0.0.0/8"));
  CHECK(r.code == v1::SOURCE_NOT_ALLOWED);
  CHECK(r.message == *source_refusal(c, *parse_cidr("10.0.0.0/8")));
  auto any = c;
  any.allow_any_source = true;
  CHECK(validate_open(any, request("metrics", 9100, "0.0.0.0/0")));
}

TEST_CASE("a source of the other address family than the target is SOURCE_NOT_ALLOWED") {
  const auto c = policy_config();
  auto r = refused(c, request("metrics", 9100, "2001:db8::1"));
  CHECK(r.code == v1::SOURCE_NOT_ALLOWED);
  CHECK(r.message == "Service 'metrics' forwards to an IPv4 address, so the source must be IPv4 too.");
  r = refused(c, request("v6svc", 9443, "10.0.0.2"));
  CHECK(r.message == "Service 'v6svc' forwards to an IPv6 address, so the source must be IPv6 too.");
}

TEST_CASE("the checks run in a fixed order: the first refusal wins") {
  // Unknown service, forbidden port and bad duration at once: the service is named first.
  CHECK(refused(policy_config(), request("nosuch", 9022, "x", 1)).code == v1::UNKNOWN_SERVICE);
  // Forbidden port and bad duration: the port.
  CHECK(refused(policy_config(), request("metrics", 9022, "x", 1)).code == v1::PORT_FORBIDDEN);
}
