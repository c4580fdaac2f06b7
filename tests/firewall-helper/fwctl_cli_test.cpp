// sms-bridge-fwctl's argument parsing and output: strict flags, typed requests, exit codes.
#include <catch2/catch.hpp>

#include "result_string_maker.hpp"

#include "firewall-helper/fwctl_cli.hpp"

using namespace smsbridge::firewall;

TEST_CASE("open parses into a typed request") {
  auto c = parse_fwctl_args({"--socket", "/tmp/x.sock", "open", "metrics", "--port", "9100", "--source", "10.0.0.2/32",
                             "--duration", "900", "--actor", "alice"});
  REQUIRE(c);
  CHECK(c->socket_path == "/tmp/x.sock");
  CHECK(c->request.open().service() == "metrics");
  CHECK(c->request.open().external_port() == 9100);
  CHECK(c->request.open().duration_seconds() == 900);
  CHECK(c->request.open().actor() == "alice");
}

TEST_CASE("usage mistakes are one-line errors") {
  CHECK_FALSE(parse_fwctl_args({}));
  CHECK_FALSE(parse_fwctl_args({"frobnicate"}));
  CHECK_FALSE(parse_fwctl_args({"open", "metrics", "--port", "9100", "--source", "10.0.0.2"}));
  CHECK_FALSE(parse_fwctl_args({"open", "metrics", "--port", "99999", "--source", "x", "--duration", "1"}));
  CHECK_FALSE(parse_fwctl_args({"open", "metrics", "--port", "12ab", "--source", "x", "--duration", "1"}));
  CHECK_FALSE(parse_fwctl_args({"close", "metrics", "--force", "1"}));
  CHECK_FALSE(parse_fwctl_args({"ack"}));
  CHECK_FALSE(parse_fwctl_args({"list", "extra"}));
  CHECK(parse_fwctl_args({"--help"})->help);
}

TEST_CASE("the other verbs parse") {
  CHECK(parse_fwctl_args({"check-ports", "9100", "9101"})->request.check_ports().ports_size() == 2);
  auto scan = parse_fwctl_args({"scan-ports", "--start", "9000", "--end", "9100", "--count", "3"});
  REQUIRE(scan);
  CHECK(scan->request.scan_ports().end() == 9100);
  CHECK(parse_fwctl_args({"events", "--after", "5"})->request.events().after_seq() == 5);
  CHECK(parse_fwctl_args({"ack", "7"})->request.ack().seq() == 7);
  CHECK(parse_fwctl_args({"close-all"})->request.has_close_all());
}

TEST_CASE("a refusal renders as JSON with exit code 1, a result with 0") {
  v1::Response refused;
  refused.mutable_error()->set_code(v1::PORT_FORBIDDEN);
  refused.mutable_error()->set_message("External port 22 is forbidden by the helper config.");
  auto out = render_fwctl_response(refused);
  CHECK(out.exit_code == 1);
  CHECK(out.json.find("\"code\": \"PORT_FORBIDDEN\"") != std::string::npos);
  v1::Response ok;
  ok.mutable_check_ports()->add_ports()->set_port(9100);
  out = render_fwctl_response(ok);
  CHECK(out.exit_code == 0);
  CHECK(out.json.find("\"free\": false") != std::string::npos);
}

TEST_CASE("fwctl's --version is an option before the verb, as --help is, and both are in the usage") {
  auto v = parse_fwctl_args({"--version"});
  REQUIRE(v);
  CHECK(v->version);
  CHECK_FALSE(v->help);
  CHECK(parse_fwctl_args({"--socket", "/tmp/x.sock", "--version"})->version);
  CHECK(fwctl_usage().find("--version") != std::string::npos);
}

TEST_CASE("extend takes --minutes or --seconds, and open and extend take a reason") {
  auto m = parse_fwctl_args({"extend", "metrics", "--minutes", "30", "--actor", "alice", "--reason", "still debugging"});
  REQUIRE(m);
  CHECK(m->request.extend().service() == "metrics");
  CHECK(m->request.extend().duration_seconds() == 1800);
  CHECK(m->request.extend().actor() == "alice");
  CHECK(m->request.extend().reason() == "still debugging");
  auto s = parse_fwctl_args({"extend", "metrics", "--seconds", "3"});
  REQUIRE(s);
  CHECK(s->request.extend().duration_seconds() == 3);
  CHECK_FALSE(parse_fwctl_args({"extend", "metrics"}));
  CHECK_FALSE(parse_fwctl_args({"extend", "metrics", "--minutes", "1", "--seconds", "60"}));
  CHECK_FALSE(parse_fwctl_args({"extend", "--minutes", "1"}));
  CHECK_FALSE(parse_fwctl_args({"extend", "metrics", "--minutes", "71582789"}));  // more seconds than the protocol holds
  CHECK_FALSE(parse_fwctl_args({"extend", "metrics", "--duration", "60"}));
  auto o = parse_fwctl_args({"open", "metrics", "--port", "9100", "--source", "10.0.0.2", "--duration", "900", "--reason", "gaps in Grafana"});
  REQUIRE(o);
  CHECK(o->request.open().reason() == "gaps in Grafana");
  CHECK(fwctl_usage().find("extend SERVICE --minutes N | --seconds N") != std::string::npos);
}
