// The helper core against a fake kernel: validation of every verb, state and kernel changing
// together, expiry, restart recovery, corruption, the event journal and reconciliation.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "result_string_maker.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <google/protobuf/util/time_util.h>

#include "common/log.hpp"
#include "firewall-helper/firewall_service.hpp"
#include "temp_dir.hpp"

using namespace smsbridge;
using namespace smsbridge::firewall;

namespace {
struct fake_nft final : nft_runner {
  std::vector<std::string> batches;
  std::optional<std::string> listing;  // nullopt: the table does not exist
  bool refuse_changes = false;
  fallible<std::string> run(std::string_view batch, nft_output) override {
    batches.emplace_back(batch);
    if (batch.rfind("list table", 0) == 0) {
      if (!listing) return fail("Error: No such file or directory");
      return *listing;
    }
    if (batch.rfind("list chain", 0) == 0) return fail("Error: No such file or directory");
    if (refuse_changes) return fail("Error: Could not process rule: Operation not permitted");
    return std::string();
  }
  bool saw(const std::string& needle) const {
    for (const auto& b : batches)
      if (b.find(needle) != std::string::npos) return true;
    return false;
  }
};

struct fake_cutter final : flow_cutter {
  std::vector<std::pair<std::string, std::uint16_t>> cuts;
  void cut(const cidr& source, std::uint16_t port) override { cuts.emplace_back(source.to_string(), port); }
};

struct fake_probe final : host_probe {
  std::set<std::uint16_t> busy, undecidable;
  port_use port_in_use(std::uint16_t port) override {
    return undecidable.count(port) ? port_use::unknown : busy.count(port) ? port_use::bound : port_use::free;
  }
  std::vector<std::string> warnings(const helper_config&) override { return {}; }
  std::string default_route_address() override { return "203.0.113.7"; }
};

const char* config_json = R"({
  "services": {"metrics": {"target": "127.0.0.1:8080"}, "postgres": {"target": "10.9.0.2:5432"},
               "redis": {"target": "10.9.0.3:6379"}},
  "duration_seconds": {"min": 1, "max": 3600},
  "allowed_uids": [0],
  "max_grants": 2,
  "max_pending_events": 16
})";

struct harness {
  // What the service logged, one entry per line (declared first: it outlives the service).
  std::vector<std::pair<log::level, std::string>> logged;
  log::scoped_sink sink{[this](log::level l, std::string_view m) { logged.emplace_back(l, std::string(m)); }};
  temp_dir dir;
  helper_config config = *parse_config(config_json);
  fake_nft nft;
  fake_cutter cutter;
  fake_probe probe;
  std::int64_t now = 1'800'000'000'000;
  std::int64_t steady_offset = -1'799'000'000'000;  // the monotonic clock follows `now` unless a test steps the wall clock
  int next_id = 0;
  std::unique_ptr<state_store> store;
  std::unique_ptr<firewall_service> service;

  harness() { restart(); }

  // A new store and service on the same directory: what a helper restart does.
  void restart() {
    service.reset();
    store = std::make_unique<state_store>(dir.file("port_mappings.json"));
    service = std::make_unique<firewall_service>(
        config, service_deps{nft, cutter, probe, *store, [this] { return now; },
                             [this] { return "grant-" + std::to_string(++next_id); },
                             [this] { return now + steady_offset; }});
    REQUIRE(service->start());
  }

  v1::Response call(const v1::Request& r, uid_t uid = 0) { return service->handle(r, peer_identity{uid, uid, 1}); }

  v1::Response open(const std::string& service_name, std::uint32_t port, const std::string& source,
                    std::uint32_t seconds, uid_t uid = 0) {
    v1::Request r;
    r.set_request_id(9);
    auto* o = r.mutable_open();
    o->set_service(service_name);
    o->set_external_port(port);
    o->set_source(source);
    o->set_duration_seconds(seconds);
    o->set_actor("alice");
    return call(r, uid);
  }

  v1::Response close(const std::string& service_name) {
    v1::Request r;
    r.mutable_close()->set_service(service_name);
    r.mutable_close()->set_actor("bob");
    r.mutable_close()->set_reason("done");
    return call(r);
  }

  // An open-many of (service, port) doors from one source, for `seconds`.
  v1::Response open_many(const std::vector<std::pair<std::string, std::uint32_t>>& doors, const std::string& source,
                         std::uint32_t seconds) {
    v1::Request r;
    r.set_request_id(11);
    auto* many = r.mutable_open_many();  // set even with no doors: the verb is named
    for (const auto& [name, port] : doors) {
      auto* o = many->add_doors();
      o->set_service(name);
      o->set_external_port(port);
      o->set_source(source);
      o->set_duration_seconds(seconds);
      o->set_actor("alice");
      o->set_reason("incident 7");
    }
    return call(r);
  }

  std::vector<v1::Event> events() {
    v1::Request r;
    r.mutable_events()->set_max(1000);
    auto resp = call(r);
    return {resp.events().events().begin(), resp.events().events().end()};
  }

  // The lines logged at `l` that contain `needle`.
  std::size_t lines(log::level l, std::string_view needle = "") const {
    std::size_t n = 0;
    for (const auto& [level, text] : logged) n += level == l && text.find(needle) != std::string::npos;
    return n;
  }

  std::vector<v1::EventKind> event_kinds() {
    std::vector<v1::EventKind> out;
    for (const auto& e : events()) out.push_back(e.kind());
    return out;
  }
};

v1::ErrorCode code_of(const v1::Response& r) { return r.has_error() ? r.error().code() : v1::ERROR_CODE_UNSPECIFIED; }
}  // namespace

TEST_CASE("an open renders one batch with a timeout and answers with the grant") {
  harness h;
  auto r = h.open("metrics", 9100, "10.0.0.2", 60);
  REQUIRE_FALSE(r.has_error());
  CHECK(r.request_id() == 9);
  CHECK(r.open().grant().source() == "10.0.0.2/32");
  CHECK(r.open().grant().target() == "127.0.0.1:8080");
  CHECK(r.open().grant().opened_by() == "alice");
  CHECK(h.nft.batches.back() ==
        "add element inet sms_bridge fwd4 { 9100 : 127.0.0.1 . 8080 }\n"
        "add element inet sms_bridge grant_hosts4 { 10.0.0.2 . 9100 timeout 60s }\n");
  CHECK(h.event_kinds() == std::vector<v1::EventKind>{v1::OPENED});
  CHECK(h.service->next_deadline_ms() == h.now + h.steady_offset + 60000);
}

TEST_CASE("every bad open is refused with its typed code and changes nothing") {
  harness h;
  const auto before = h.nft.batches.size();
  CHECK(code_of(h.open("nosuch", 9100, "10.0.0.2", 60)) == v1::UNKNOWN_SERVICE);
  CHECK(code_of(h.open("metrics", 22, "10.0.0.2", 60)) == v1::PORT_FORBIDDEN);
  CHECK(code_of(h.open("metrics", 8080, "10.0.0.2", 60)) == v1::PORT_FORBIDDEN);
  CHECK(code_of(h.open("metrics", 80, "10.0.0.2", 60)) == v1::PORT_FORBIDDEN);
  CHECK(code_of(h.open("metrics", 70000, "10.0.0.2", 60)) == v1::INVALID_ARGUMENT);
  CHECK(code_of(h.open("metrics", 9100, "10.0.0.2", 0)) == v1::DURATION_OUT_OF_RANGE);
  CHECK(code_of(h.open("metrics", 9100, "10.0.0.2", 3601)) == v1::DURATION_OUT_OF_RANGE);
  CHECK(code_of(h.open("metrics", 9100, "laptop.example.com", 60)) == v1::INVALID_ARGUMENT);
  CHECK(code_of(h.open("metrics", 9100, "10.0.0.2; flush ruleset", 60)) == v1::INVALID_ARGUMENT);
  CHECK(code_of(h.open("metrics", 9100, "0.0.0.0/0", 60)) == v1::SOURCE_NOT_ALLOWED);
  CHECK(code_of(h.open("metrics", 9100, "2001:db8::1", 60)) == v1::SOURCE_NOT_ALLOWED);
  CHECK(code_of(h.open("metrics", 9100, "10.0.0.2", 60, 1234)) == v1::PERMISSION_DENIED);
  CHECK(code_of(h.open("Metrics!", 9100, "10.0.0.2", 60)) == v1::INVALID_ARGUMENT);
  h.probe.busy.insert(9100);
  CHECK(code_of(h.open("metrics", 9100, "10.0.0.2", 60)) == v1::PORT_IN_USE);
  CHECK(h.nft.batches.size() == before);
  CHECK(h.events().empty());
  CHECK(h.service->live_grants() == 0);
}

TEST_CASE("a service already open, a port held by another service and the grant cap are refused") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  CHECK(code_of(h.open("metrics", 9101, "10.0.0.2", 60)) == v1::ALREADY_OPEN);
  CHECK(code_of(h.open("postgres", 9100, "10.0.0.2", 60)) == v1::PORT_IN_USE);
  REQUIRE_FALSE(h.open("postgres", 5433, "10.0.0.0/24", 60).has_error());
  CHECK(code_of(h.open("redis", 6380, "10.0.0.2", 60)) == v1::RESOURCE_EXHAUSTED);
}

TEST_CASE("0.0.0.0/0 is accepted only when allow_any_source is set") {
  harness h;
  h.config.allow_any_source = true;
  CHECK_FALSE(h.open("metrics", 9100, "0.0.0.0/0", 60).has_error());
}

TEST_CASE("by default the helper refuses an IPv4 source of /8 or wider and accepts a /24") {
  for (const char* wide : {"0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8", "10.0.0.0/15"}) {
    harness h;
    INFO(wide);
    const auto r = h.open("metrics", 9100, wide, 60);
    CHECK(code_of(r) == v1::SOURCE_NOT_ALLOWED);
    CHECK(r.error().message().find("min_source_prefix_v4") != std::string::npos);
    CHECK_FALSE(h.nft.saw("add element"));  // nothing reached the kernel
  }
  harness h;
  CHECK_FALSE(h.open("metrics", 9100, "10.0.0.0/24", 60).has_error());
  CHECK_FALSE(h.open("postgres", 5433, "10.1.0.0/16", 60).has_error());
}

TEST_CASE("the IPv4 and IPv6 floors come from the config, and allow_any_source lifts them") {
  auto c = *parse_config(R"({"min_source_prefix_v4": 24, "min_source_prefix_v6": 64})");
  CHECK(source_refusal(c, *parse_cidr("192.0.2.0/23")));
  CHECK_FALSE(source_refusal(c, *parse_cidr("192.0.2.0/24")));
  CHECK(source_refusal(c, *parse_cidr("2001:db8::/56")));
  CHECK_FALSE(source_refusal(c, *parse_cidr("2001:db8::/64")));
  const auto defaults = *parse_config("{}");
  CHECK(source_refusal(defaults, *parse_cidr("2001:db8::/32")));
  CHECK(source_refusal(defaults, *parse_cidr("::/1")));
  CHECK_FALSE(source_refusal(defaults, *parse_cidr("2001:db8:1::/48")));
  c.allow_any_source = true;
  CHECK_FALSE(source_refusal(c, *parse_cidr("0.0.0.0/1")));
  CHECK_FALSE(source_refusal(c, *parse_cidr("::/0")));
  CHECK_FALSE(parse_config(R"({"min_source_prefix_v4": 33})"));
  CHECK_FALSE(parse_config(R"({"min_source_prefix_v6": 0})"));
}

TEST_CASE("a recorded door whose source the config no longer allows is closed at start") {
  harness h;
  REQUIRE_FALSE(h.open("postgres", 5433, "10.1.0.0/16", 60).has_error());
  h.config.min_source_prefix_v4 = 24;
  h.restart();
  CHECK(h.service->live_grants() == 0);
  const auto events = h.events();
  REQUIRE_FALSE(events.empty());
  CHECK(events.back().kind() == v1::CLOSED);
  CHECK(events.back().reason() == "no longer allowed by the helper config");
}

TEST_CASE("a kernel refusal is NFT_FAILED and leaves no state") {
  harness h;
  h.nft.refuse_changes = true;
  CHECK(code_of(h.open("metrics", 9100, "10.0.0.2", 60)) == v1::NFT_FAILED);
  CHECK(h.service->live_grants() == 0);
  CHECK(h.events().empty());
  // The journal was written while the kernel refused (the two run at once): both attempts'
  // records are there, each voided after it.
  std::ifstream in(h.dir.file("port_mappings.json.journal"));
  const std::string journal((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t voided = 0;
  for (auto at = journal.find("\"voided\""); at != std::string::npos; at = journal.find("\"voided\"", at + 1)) ++voided;
  CHECK(voided == 2);
  h.nft.refuse_changes = false;
  h.restart();
  CHECK(h.service->live_grants() == 0);
  CHECK(h.events().empty());  // no OPENED event of a door nobody got reaches the audit trail
  // A voided event's number is not given again.
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  const auto events = h.events();
  REQUIRE(events.size() == 1);
  // The journal spells numbers this way (else the search below could never match and prove nothing).
  REQUIRE(journal.find("\"seq\":\"") != std::string::npos);
  CHECK(journal.find(fmt::format("\"seq\":\"{}\"", events[0].seq())) == std::string::npos);
}

TEST_CASE("an open-many opens its doors with one nft batch and one journal write, and answers each in order") {
  harness h;
  h.config.max_grants = 3;
  const auto batches = h.nft.batches.size();
  const auto syncs = h.store->journal_syncs();
  const auto r = h.open_many({{"metrics", 9100}, {"postgres", 5433}}, "10.0.0.2", 60);
  REQUIRE(r.has_open_many());
  REQUIRE(r.open_many().outcomes_size() == 2);
  CHECK(r.open_many().outcomes(0).grant().service() == "metrics");
  CHECK(r.open_many().outcomes(1).grant().service() == "postgres");
  CHECK(r.open_many().outcomes(1).grant().reason() == "incident 7");
  CHECK(h.nft.batches.size() == batches + 1);
  CHECK(h.nft.batches.back() ==
        "add element inet sms_bridge fwd4 { 9100 : 127.0.0.1 . 8080 }\n"
        "add element inet sms_bridge grant_hosts4 { 10.0.0.2 . 9100 timeout 60s }\n"
        "add element inet sms_bridge fwd4 { 5433 : 10.9.0.2 . 5432 }\n"
        "add element inet sms_bridge grant_hosts4 { 10.0.0.2 . 5433 timeout 60s }\n");
  CHECK(h.store->journal_syncs() == syncs + 1);
  CHECK(h.event_kinds() == std::vector<v1::EventKind>{v1::OPENED, v1::OPENED});
  CHECK(h.service->live_grants() == 2);
  // Durable: a restart re-applies both.
  h.restart();
  CHECK(h.service->live_grants() == 2);
}

TEST_CASE("an open-many refuses each bad door with the code an Open would give and opens the rest") {
  harness h;  // max_grants 2
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  const auto r = h.open_many({{"metrics", 9101},      // already open
                              {"nosuch", 9102},       // not in the config
                              {"postgres", 9100},     // metrics holds the port
                              {"postgres", 5433},     // opens
                              {"redis", 5433},        // the port is named twice
                              {"postgres", 5434},     // the service is named twice
                              {"redis", 6380}},       // past the grant cap with postgres counted
                             "10.0.0.2", 60);
  REQUIRE(r.open_many().outcomes_size() == 7);
  const auto code = [&](int i) { return r.open_many().outcomes(i).error().code(); };
  CHECK(code(0) == v1::ALREADY_OPEN);
  CHECK(code(1) == v1::UNKNOWN_SERVICE);
  CHECK(code(2) == v1::PORT_IN_USE);
  CHECK(r.open_many().outcomes(3).grant().external_port() == 5433);
  CHECK(code(4) == v1::PORT_IN_USE);
  CHECK(code(5) == v1::ALREADY_OPEN);
  CHECK(code(6) == v1::RESOURCE_EXHAUSTED);
  CHECK(h.service->live_grants() == 2);
  CHECK(h.lines(log::level::notice, "one of an open-many") == 6);
}

TEST_CASE("an open-many the kernel refuses opens none of its doors and says so for each") {
  harness h;
  h.nft.refuse_changes = true;
  const auto r = h.open_many({{"metrics", 9100}, {"postgres", 5433}}, "10.0.0.2", 60);
  REQUIRE(r.open_many().outcomes_size() == 2);
  for (int i = 0; i < 2; ++i) {
    CHECK(r.open_many().outcomes(i).error().code() == v1::NFT_FAILED);
    CHECK(r.open_many().outcomes(i).error().message() == "The kernel refused to open the doors for 'metrics', 'postgres'; nothing was changed.");
  }
  CHECK(h.service->live_grants() == 0);
  CHECK(h.events().empty());
  h.nft.refuse_changes = false;
  h.restart();  // the journal's records were voided: nothing comes back
  CHECK(h.service->live_grants() == 0);
  CHECK(h.events().empty());
}

TEST_CASE("an open-many of no doors, or of more than 64, is INVALID_ARGUMENT") {
  harness h;
  CHECK(code_of(h.open_many({}, "10.0.0.2", 60)) == v1::INVALID_ARGUMENT);
  std::vector<std::pair<std::string, std::uint32_t>> many(65, {"metrics", 9100});
  const auto r = h.open_many(many, "10.0.0.2", 60);
  CHECK(code_of(r) == v1::INVALID_ARGUMENT);
  CHECK(r.error().message() == "Open-many takes 1 to 64 doors, not 65.");
}

TEST_CASE("a close deletes the element and the map entry, cuts the flows and records who and why") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.0/24", 60).has_error());
  auto r = h.close("metrics");
  REQUIRE_FALSE(r.has_error());
  CHECK(r.close().grant().service() == "metrics");
  CHECK(h.nft.saw("delete element inet sms_bridge grant_nets4 { 10.0.0.0/24 . 9100 }\ndelete element inet sms_bridge fwd4 { 9100 }\n"));
  CHECK(h.cutter.cuts == std::vector<std::pair<std::string, std::uint16_t>>{{"10.0.0.0/24", 9100}});
  const auto events = h.events();
  REQUIRE(events.size() == 2);
  CHECK(events[1].kind() == v1::CLOSED);
  CHECK(events[1].actor() == "bob");
  CHECK(events[1].reason() == "done");
  CHECK(code_of(h.close("metrics")) == v1::NOT_OPEN);
  CHECK_FALSE(h.service->next_deadline_ms());
}

TEST_CASE("a grant expires at its deadline, not before") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 3).has_error());
  h.now += 2999;
  h.service->expire_due();
  CHECK(h.service->live_grants() == 1);
  h.now += 1;
  h.service->expire_due();
  CHECK(h.service->live_grants() == 0);
  CHECK(h.event_kinds() == std::vector<v1::EventKind>{v1::OPENED, v1::EXPIRED});
  CHECK(h.nft.saw("delete element inet sms_bridge fwd4 { 9100 }"));
}

TEST_CASE("after a restart a live grant is re-added with its remaining time") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  h.now += 15500;
  h.restart();
  CHECK(h.service->live_grants() == 1);
  const auto& batch = h.nft.batches.back().rfind("list chain", 0) == 0 ? h.nft.batches[h.nft.batches.size() - 2]
                                                                        : h.nft.batches.back();
  CHECK(batch.rfind("add table inet sms_bridge\n", 0) == 0);
  CHECK(batch.find("grant_hosts4 { 10.0.0.2 . 9100 timeout 44s500ms }") != std::string::npos);
  CHECK(h.service->next_deadline_ms() == h.now + h.steady_offset + 44500);
}

TEST_CASE("a grant whose deadline passed while the helper was down becomes EXPIRED_WHILE_DOWN") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 5).has_error());
  h.now += 6000;
  h.restart();
  CHECK(h.service->live_grants() == 0);
  CHECK(h.event_kinds() == std::vector<v1::EventKind>{v1::OPENED, v1::EXPIRED_WHILE_DOWN});
  CHECK(h.nft.batches.back().find("add element inet sms_bridge grant_") == std::string::npos);  // nothing re-added
}

TEST_CASE("a grant the config no longer allows is closed at start") {
  harness h;
  REQUIRE_FALSE(h.open("redis", 6380, "10.0.0.2", 60).has_error());
  h.config.services.erase("redis");
  h.restart();
  CHECK(h.service->live_grants() == 0);
  const auto events = h.events();
  REQUIRE(events.size() == 2);
  CHECK(events[1].kind() == v1::CLOSED);
  CHECK(events[1].reason() == "no longer allowed by the helper config");
}

TEST_CASE("a recorded door on a port the config now forbids is closed at start with the sentence Open gives") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  h.config.forbidden_ports.insert(9100);
  h.restart();
  CHECK(h.service->live_grants() == 0);
  CHECK(h.nft.batches.back().find("10.0.0.2 . 9100") == std::string::npos);  // the table is installed without it
  const auto events = h.events();
  REQUIRE(events.size() == 2);
  CHECK(events[1].kind() == v1::CLOSED);
  CHECK(events[1].reason() == "no longer allowed by the helper config");
  const auto refused = h.open("metrics", 9100, "10.0.0.2", 60);
  CHECK(code_of(refused) == v1::PORT_FORBIDDEN);
  CHECK(events[1].detail() == refused.error().message());
}

TEST_CASE("each config refusal voids a recorded door at start with the sentence Open gives") {
  struct change {
    const char* what;
    void (*apply)(helper_config&);
    v1::ErrorCode open_code;
  };
  const change changes[] = {
      {"the service was removed", [](helper_config& c) { c.services.erase("metrics"); }, v1::UNKNOWN_SERVICE},
      {"the port range moved", [](helper_config& c) { c.port_min = 9200; }, v1::PORT_FORBIDDEN},
      {"the source floor rose", [](helper_config& c) { c.min_source_prefix_v4 = 28; }, v1::SOURCE_NOT_ALLOWED},
  };
  for (const auto& ch : changes) {
    SECTION(ch.what) {
      harness h;
      REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.0/24", 60).has_error());
      ch.apply(h.config);
      h.restart();
      CHECK(h.service->live_grants() == 0);
      const auto events = h.events();
      REQUIRE(events.size() == 2);
      CHECK(events[1].kind() == v1::CLOSED);
      const auto refused = h.open("metrics", 9100, "10.0.0.0/24", 60);
      CHECK(code_of(refused) == ch.open_code);
      CHECK(events[1].detail() == refused.error().message());
    }
  }
}

TEST_CASE("a recorded door shorter or longer than the bounds now allow survives a restart, but never past duration_max") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 3600).has_error());
  h.config.duration_max = 600;  // the door was checked when it opened; its remaining time is capped
  h.restart();
  REQUIRE(h.service->live_grants() == 1);
  CHECK(h.service->next_deadline_ms() == h.now + h.steady_offset + 600 * 1000);
}

TEST_CASE("check-ports gives the policy's reason for a port the config keeps closed") {
  harness h;
  v1::Request check;
  check.mutable_check_ports()->add_ports(22);
  check.mutable_check_ports()->add_ports(80);
  auto r = h.call(check);
  REQUIRE(r.check_ports().ports_size() == 2);
  CHECK(r.check_ports().ports(0).reason() == *port_not_allowed(h.config, 22));
  CHECK(r.check_ports().ports(1).reason() == "outside the allowed range 1024 to 65535");
}

TEST_CASE("a corrupt state file starts the helper fail-closed and is reported") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  { std::ofstream(h.dir.file("port_mappings.json")) << "\x01garbage"; }
  h.restart();
  CHECK(h.service->live_grants() == 0);
  const auto events = h.events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind() == v1::STATE_CORRUPT);
  CHECK(events[0].detail().find(".corrupt-") != std::string::npos);
  v1::Request status;
  status.mutable_status();
  CHECK(h.call(status).status().started_fail_closed());
}

TEST_CASE("events are kept until acknowledged, across restarts") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  REQUIRE_FALSE(h.close("metrics").has_error());
  const auto both = h.events();
  REQUIRE(both.size() == 2);
  const std::uint64_t first = both[0].seq();
  CHECK(both[1].seq() == first + 1);
  v1::Request ack;
  ack.mutable_ack()->set_seq(first);
  auto r = h.call(ack);
  REQUIRE_FALSE(r.has_error());
  CHECK(r.ack().pending_events() == 1);
  h.restart();
  const auto events = h.events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].seq() == first + 1);
  ack.mutable_ack()->set_seq(first + 2);  // not given yet
  CHECK(code_of(h.call(ack)) == v1::INVALID_ARGUMENT);
}

TEST_CASE("a fresh journal numbers its events from the wall clock, in microseconds") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  h.now += 5000;  // the clock moves on; the journal's numbering does not follow it
  REQUIRE_FALSE(h.close("metrics").has_error());
  const auto events = h.events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].seq() == 1'800'000'000'000'000);
  CHECK(events[1].seq() == 1'800'000'000'000'001);
  v1::Request status;
  status.mutable_status();
  CHECK(h.call(status).status().next_event_seq() == 1'800'000'000'000'002);
  CHECK(fresh_journal_seq(0) == 1);
  CHECK(fresh_journal_seq(-5) == 1);
}

TEST_CASE("a normal restart continues the journal's numbering, whatever the clock says") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  REQUIRE_FALSE(h.close("metrics").has_error());
  std::uint64_t last = h.events().back().seq();
  v1::Request ack;
  ack.mutable_ack()->set_seq(last);
  REQUIRE_FALSE(h.call(ack).has_error());  // nothing pending: only next_event_seq carries the numbering
  for (const std::int64_t step : {3'600'000, -7'200'000}) {  // an hour on, then the clock steps back two
    h.now += step;
    h.restart();
    REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
    const auto events = h.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].seq() == last + 1);
    REQUIRE_FALSE(h.close("metrics").has_error());
    const auto closed = h.events();
    REQUIRE(closed.size() == 2);
    ack.mutable_ack()->set_seq(closed.back().seq());
    REQUIRE_FALSE(h.call(ack).has_error());
    last = closed.back().seq();
  }
}

TEST_CASE("a journal begun after a corrupt or missing state file numbers above the earlier journal's numbers") {
  harness h;
  // An earlier journal with many numbers given (the service compacts it into the snapshot).
  std::uint64_t highest = 0;
  for (int i = 0; i < 300; ++i) {
    REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
    REQUIRE_FALSE(h.close("metrics").has_error());
    const auto events = h.events();
    highest = events.back().seq();
    v1::Request ack;
    ack.mutable_ack()->set_seq(highest);
    REQUIRE_FALSE(h.call(ack).has_error());
    h.now += 1000;  // one open and close a second
  }
  REQUIRE(highest == 1'800'000'000'000'000 + 599);
  SECTION("corrupt") {
    { std::ofstream(h.dir.file("port_mappings.json")) << "{\"format\": 1, \"next_event_seq\": \"2\", \"grants\": [\n{\"grant"; }
    h.restart();
    const auto events = h.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind() == v1::STATE_CORRUPT);
    CHECK(events[0].seq() > highest);
    CHECK(events[0].seq() == fresh_journal_seq(h.now));
  }
  SECTION("missing") {
    std::filesystem::remove(h.dir.file("port_mappings.json"));
    std::filesystem::remove(h.dir.file("port_mappings.json.journal"));
    h.restart();
    CHECK(h.events().empty());
  }
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  const auto events = h.events();
  CHECK(events.back().kind() == v1::OPENED);
  CHECK(events.back().seq() > highest);
}

TEST_CASE("a full event journal refuses opens but still records closes") {
  harness h;
  for (int i = 0; i < 8; ++i) {
    REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
    REQUIRE_FALSE(h.close("metrics").has_error());
  }
  CHECK(code_of(h.open("metrics", 9100, "10.0.0.2", 60)) == v1::RESOURCE_EXHAUSTED);
  const auto pending = h.events();
  REQUIRE(pending.size() == 16);
  v1::Request ack;
  ack.mutable_ack()->set_seq(pending.back().seq());
  REQUIRE_FALSE(h.call(ack).has_error());
  CHECK_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
}

TEST_CASE("a request with no known verb gets UNKNOWN_VERB") {
  harness h;
  v1::Request r;
  r.set_request_id(3);
  auto resp = h.call(r);
  CHECK(code_of(resp) == v1::UNKNOWN_VERB);
  CHECK(resp.request_id() == 3);
}

TEST_CASE("check-ports and scan-ports report forbidden, granted and busy ports") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  h.probe.busy.insert(9101);
  v1::Request check;
  for (auto p : {22u, 9100u, 9101u, 9102u}) check.mutable_check_ports()->add_ports(p);
  auto r = h.call(check);
  REQUIRE(r.check_ports().ports_size() == 4);
  CHECK_FALSE(r.check_ports().ports(0).free());
  CHECK(r.check_ports().ports(1).reason() == "granted to 'metrics'");
  CHECK_FALSE(r.check_ports().ports(2).free());
  CHECK(r.check_ports().ports(3).free());
  v1::Request scan;
  scan.mutable_scan_ports()->set_start(9100);
  scan.mutable_scan_ports()->set_end(9200);
  scan.mutable_scan_ports()->set_count(2);
  r = h.call(scan);
  REQUIRE(r.scan_ports().ports_size() == 2);
  CHECK(r.scan_ports().ports(0).port() == 9102);
  CHECK(r.scan_ports().ports(1).port() == 9103);
  scan.mutable_scan_ports()->set_count(0);
  CHECK(code_of(h.call(scan)) == v1::INVALID_ARGUMENT);
}

TEST_CASE("a port the probe cannot decide about is never reported free, scanned or opened") {
  harness h;
  h.probe.undecidable.insert(9102);
  v1::Request check;
  check.mutable_check_ports()->add_ports(9102);
  auto r = h.call(check);
  REQUIRE(r.check_ports().ports_size() == 1);
  CHECK_FALSE(r.check_ports().ports(0).free());
  CHECK(r.check_ports().ports(0).reason() == "the helper cannot tell whether a process on this host is bound to it");
  v1::Request scan;
  scan.mutable_scan_ports()->set_start(9102);
  scan.mutable_scan_ports()->set_end(9103);
  scan.mutable_scan_ports()->set_count(5);
  r = h.call(scan);
  REQUIRE(r.scan_ports().ports_size() == 1);
  CHECK(r.scan_ports().ports(0).port() == 9103);
  CHECK(code_of(h.open("metrics", 9102, "10.0.0.2", 60)) == v1::PORT_IN_USE);
}

TEST_CASE("a missing table is rebuilt with the live grants and reported") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  h.nft.listing.reset();
  h.service->reconcile();
  CHECK(h.nft.batches.back().rfind("add table inet sms_bridge\n", 0) == 0);
  CHECK(h.nft.batches.back().find("grant_hosts4 { 10.0.0.2 . 9100 timeout 60s }") != std::string::npos);
  CHECK(h.event_kinds() == std::vector<v1::EventKind>{v1::OPENED, v1::DRIFT_REPAIRED});
}

namespace {
// The fixture's intact table; `element` replaces its foreign host grant (10.250.2.2 . 9100, which
// expires in 3599 s) by one of ours expiring in `expires` s, or removes it when empty.
std::string listing_with(const std::string& element, int expires) {
  std::ifstream in(std::string(FIXTURE_DIR) + "/kernel_listing.json");
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  const std::string foreign = R"({"elem": {"val": {"concat": ["10.250.2.2", 9100]}, "timeout": 3600, "expires": 3599}})";
  const auto at = text.find(foreign);
  REQUIRE(at != std::string::npos);
  text.replace(at, foreign.size(), element.empty() ? std::string()
                                                   : R"({"elem": {"val": {"concat": [")" + element + R"(", 9100]}, "timeout": 60, "expires": )" +
                                                         std::to_string(expires) + "}}");
  return text;
}

// Steps the wall clock by `ms` while the monotonic clock stays where it is.
void step_wall_clock(harness& h, std::int64_t ms) {
  h.now += ms;
  h.steady_offset -= ms;
}
}  // namespace

TEST_CASE("a wall-clock step back does not lengthen a door the reconciler re-applies") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  step_wall_clock(h, -3600 * 1000);
  h.now += 10000;  // ten real seconds later the door has 50 s left, whatever the wall clock says
  h.nft.listing = listing_with("", 0);  // someone deleted our element: drift
  h.service->reconcile();
  CHECK(h.nft.saw("grant_hosts4 { 10.0.0.2 . 9100 timeout 50s }"));
  CHECK_FALSE(h.nft.saw("timeout 3650s"));
}

TEST_CASE("after a restart the kernel's remaining timeout bounds a door whose wall-clock deadline moved") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  step_wall_clock(h, -3600 * 1000);  // the state file now says 3,660 s are left
  h.now += 40000;
  h.nft.listing = listing_with("10.0.0.2", 20);  // the kernel knows better: 20 s (and < 1 s)
  h.restart();
  REQUIRE(h.service->live_grants() == 1);
  CHECK(h.nft.saw("grant_hosts4 { 10.0.0.2 . 9100 timeout 20s999ms }"));
  CHECK(h.service->next_deadline_ms() == h.now + h.steady_offset + 20999);
}

TEST_CASE("after a restart a door the kernel no longer holds in an intact table has expired") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  step_wall_clock(h, -3600 * 1000);
  h.now += 70000;  // past its real deadline: the kernel removed it
  h.nft.listing = listing_with("", 0);
  h.restart();
  CHECK(h.service->live_grants() == 0);
  CHECK(h.event_kinds().back() == v1::EXPIRED_WHILE_DOWN);
}

TEST_CASE("kernel elements the helper did not issue are deleted and reported") {
  harness h;
  std::ifstream in(std::string(FIXTURE_DIR) + "/kernel_listing.json");
  std::stringstream s;
  s << in.rdbuf();
  h.nft.listing = s.str();
  h.service->reconcile();
  CHECK(h.nft.saw("delete element inet sms_bridge grant_hosts4 { 10.250.2.2 . 9100 }"));
  CHECK(h.nft.saw("delete element inet sms_bridge grant_nets4 { 10.1.0.0/24 . 5433 }"));
  CHECK(h.nft.saw("delete element inet sms_bridge grant_nets6 { fd00:1::/64 . 9102 }"));
  CHECK(h.nft.saw("delete element inet sms_bridge fwd6 { 9102 }"));
  CHECK(h.cutter.cuts.size() == 3);
  for (auto kind : h.event_kinds()) CHECK(kind == v1::DRIFT_REMOVED);
  CHECK(h.events().size() == 6);  // three grants, three forwards
}

TEST_CASE("shutdown with on_shutdown close closes every door and records it") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  h.service->shutdown();
  CHECK(h.service->live_grants() == 0);
  CHECK(h.event_kinds().back() == v1::SHUTDOWN_CLOSED);
}

TEST_CASE("shutdown with on_shutdown keep leaves doors to their kernel timeouts") {
  harness h;
  h.config.on_shutdown = shutdown_policy::keep;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  const auto batches = h.nft.batches.size();
  h.service->shutdown();
  CHECK(h.nft.batches.size() == batches);
  h.restart();
  CHECK(h.service->live_grants() == 1);
}

TEST_CASE("list pages through a thousand grants, each page fitting one frame") {
  harness h;
  h.config.max_grants = 2000;
  h.config.max_pending_events = 5000;
  // fmt, not "s" + std::to_string(i): that trips a false -Wrestrict in g++ 12 at -O3.
  for (int i = 0; i < 1000; ++i) {
    const std::string name = fmt::format("s{}", i);
    h.config.services[name] = service_config{name, *parse_endpoint("127.0.0.1:9"), false};
  }
  for (int i = 0; i < 1000; ++i) {
    REQUIRE_FALSE(h.open(fmt::format("s{}", i), static_cast<std::uint32_t>(20000 + i), "10.0.0.2", 600).has_error());
  }
  std::set<std::string> seen;
  std::string after;
  int pages = 0;
  do {
    v1::Request r;
    r.mutable_list()->set_after_service(after);
    auto page = h.call(r);
    REQUIRE_FALSE(page.has_error());
    CHECK(page.ByteSizeLong() < 64 * 1024);
    CHECK(page.list().total() == 1000);
    for (const auto& g : page.list().grants()) CHECK(seen.insert(g.service()).second);
    after = page.list().next_after_service();
    ++pages;
  } while (!after.empty() && pages < 100);
  CHECK(seen.size() == 1000);
  CHECK(pages > 1);

  v1::Request events;
  events.mutable_events()->set_max(1000);
  auto batch = h.call(events);
  CHECK(batch.ByteSizeLong() < 64 * 1024);
  CHECK(batch.events().events_size() > 0);
  CHECK(batch.events().events(0).seq() == fresh_journal_seq(h.now));

  v1::Request close_all;
  close_all.mutable_close_all()->set_actor("ops");
  auto closed = h.call(close_all);
  REQUIRE_FALSE(closed.has_error());
  CHECK(closed.close_all().closed_count() == 1000);
  CHECK(closed.ByteSizeLong() < 64 * 1024);
  CHECK(h.service->live_grants() == 0);
}

TEST_CASE("list with max returns a page and where the next starts") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  REQUIRE_FALSE(h.open("postgres", 5433, "10.0.0.2", 60).has_error());
  v1::Request r;
  r.mutable_list()->set_max(1);
  auto first = h.call(r);
  REQUIRE(first.list().grants_size() == 1);
  CHECK(first.list().grants(0).service() == "metrics");
  CHECK(first.list().next_after_service() == "metrics");
  r.mutable_list()->set_after_service("metrics");
  auto second = h.call(r);
  REQUIRE(second.list().grants_size() == 1);
  CHECK(second.list().grants(0).service() == "postgres");
  CHECK(second.list().next_after_service().empty());
}

TEST_CASE("an open that finds the table gone rebuilds it and succeeds") {
  harness h;
  struct flaky_nft final : nft_runner {
    fake_nft& inner;
    int failures_left = 1;
    explicit flaky_nft(fake_nft& n) : inner(n) {}
    fallible<std::string> run(std::string_view batch, nft_output output) override {
      if (batch.rfind("add element", 0) == 0 && failures_left-- > 0) return fail("Error: No such file or directory");
      return inner.run(batch, output);
    }
  } flaky(h.nft);
  firewall_service service(h.config, service_deps{flaky, h.cutter, h.probe, *h.store, [&] { return h.now; },
                                                  [] { return std::string("g"); }});
  REQUIRE(service.start());
  h.nft.listing.reset();  // the kernel says: no such table
  v1::Request r;
  auto* o = r.mutable_open();
  o->set_service("metrics");
  o->set_external_port(9100);
  o->set_source("10.0.0.2");
  o->set_duration_seconds(60);
  auto resp = service.handle(r, peer_identity{0, 0, 1});
  REQUIRE_FALSE(resp.has_error());
  CHECK(h.nft.saw("add table inet sms_bridge\n"));
  CHECK(service.live_grants() == 1);
}

TEST_CASE("status names the configured services, so the api-daemon can validate its settings") {
  harness h;
  v1::Request r;
  r.mutable_status();
  auto status = h.call(r).status();
  CHECK(std::vector<std::string>(status.services().begin(), status.services().end()) ==
        std::vector<std::string>{"metrics", "postgres", "redis"});
}

TEST_CASE("status reports the host's default-route address, the one a laptop reaches the server at") {
  harness h;
  v1::Request r;
  r.mutable_status();
  CHECK(h.call(r).status().host_address() == "203.0.113.7");
}

TEST_CASE("a refused request is logged once, at notice, with the sentence the client gets") {
  harness h;
  h.logged.clear();
  const auto r = h.open("metrics", 22, "10.0.0.2", 60);
  REQUIRE(code_of(r) == v1::PORT_FORBIDDEN);
  REQUIRE(h.logged.size() == 1);
  CHECK(h.logged[0].first == log::level::notice);
  CHECK(h.logged[0].second == fmt::format("refused open from uid 0: {}", r.error().message()));
}

TEST_CASE("a peer the config does not allow is logged once, at warning") {
  harness h;
  h.logged.clear();
  REQUIRE(code_of(h.open("metrics", 9100, "10.0.0.2", 60, 1234)) == v1::PERMISSION_DENIED);
  REQUIRE(h.logged.size() == 1);
  CHECK(h.lines(log::level::warning, "refused open from uid 1234: uid 1234 (gid 1234) is not allowed") == 1);
}

TEST_CASE("a kernel refusal is logged once as an error, with nft's detail, and not again as a refusal") {
  harness h;
  h.nft.refuse_changes = true;
  h.logged.clear();
  REQUIRE(code_of(h.open("metrics", 9100, "10.0.0.2", 60)) == v1::NFT_FAILED);
  // (The reconcile it tries in between is an event of its own: here, a failed table rebuild.)
  CHECK(h.lines(log::level::error, "open 'metrics'") == 1);
  CHECK(h.lines(log::level::error, "nft refused to open 'metrics': Error: Could not process rule") == 1);
  CHECK(h.lines(log::level::notice, "refused") == 0);
}

TEST_CASE("an opened and a closed door are logged once each, at notice") {
  harness h;
  h.logged.clear();
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  REQUIRE_FALSE(h.close("metrics").has_error());
  REQUIRE(h.logged.size() == 2);
  CHECK(h.lines(log::level::notice, "opened door metrics port 9100 -> 127.0.0.1:8080 for 10.0.0.2/32") == 1);
  CHECK(h.lines(log::level::notice, "closed door metrics port 9100 for 10.0.0.2/32 (CLOSED, by bob: done)") == 1);
}

TEST_CASE("a recorded door voided at start is logged once, with the sentence of its event") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  h.config.forbidden_ports.insert(9100);
  h.logged.clear();
  h.restart();
  const auto events = h.events();
  REQUIRE(events.size() == 2);
  CHECK(h.lines(log::level::notice, events[1].detail()) == 1);
  CHECK(h.lines(log::level::notice, "closed the recorded door of 'metrics' at start") == 1);
}

TEST_CASE("each drift the reconciler repairs is logged once, at warning") {
  harness h;
  std::ifstream in(std::string(FIXTURE_DIR) + "/kernel_listing.json");
  std::stringstream s;
  s << in.rdbuf();
  h.nft.listing = s.str();
  h.logged.clear();
  h.service->reconcile();
  CHECK(h.lines(log::level::warning, "drift: ") == h.events().size());
  CHECK(h.logged.size() == h.events().size());
}

TEST_CASE("a reload closes the doors the new config would not open and keeps the others with their deadlines") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 600).has_error());
  REQUIRE_FALSE(h.open("postgres", 9187, "10.0.0.2", 600).has_error());
  const auto deadline = h.service->next_deadline_ms();
  helper_config next = h.config;
  next.forbidden_ports.insert(9187);
  REQUIRE_FALSE(reload_refusal(h.config, next));
  CHECK(same_skeleton(h.config, next));
  h.config = next;  // what the server does: the service reads the replaced object
  h.nft.batches.clear();
  CHECK(h.service->revalidate_doors(false) == 1);
  CHECK(h.service->live_grants() == 1);
  CHECK(h.service->next_deadline_ms() == deadline);
  CHECK(h.nft.saw("10.0.0.2 . 9187"));          // the closed door's element was deleted
  CHECK_FALSE(h.nft.saw("add table"));           // same skeleton: no re-install
  const auto events = h.events();
  REQUIRE(events.size() == 3);
  CHECK(events[2].kind() == v1::CLOSED);
  CHECK(events[2].actor() == "system");
  CHECK(events[2].reason() == "no longer allowed by the reloaded helper config");
  CHECK(events[2].detail().find("9187") != std::string::npos);
  CHECK(h.lines(log::level::notice, "the reloaded config no longer allows the door of 'postgres'") == 1);
}

TEST_CASE("a reload closes a door whose service now forwards elsewhere, and re-installs a changed skeleton") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 600).has_error());
  REQUIRE_FALSE(h.open("redis", 6380, "10.0.0.2", 600).has_error());
  helper_config next = h.config;
  next.services.at("redis").target = *parse_endpoint("10.9.0.4:6379");
  next.services.at("metrics").masquerade = true;
  CHECK_FALSE(same_skeleton(h.config, next));
  h.config = next;
  h.nft.batches.clear();
  CHECK(h.service->revalidate_doors(true) == 1);
  CHECK(h.service->live_grants() == 1);
  REQUIRE_FALSE(h.nft.batches.empty());
  CHECK(h.nft.batches.back().find("add table") != std::string::npos);
  CHECK(h.nft.batches.back().find("10.0.0.2 . 9100") != std::string::npos);  // the kept door is in the new table
  CHECK(h.events().back().detail() == "Service 'redis' now forwards to 10.9.0.4:6379, not 10.9.0.3:6379.");
}

// ---- extend, reasons, the kernel-read deadline -------------------------------------------

namespace {
v1::Response extend(harness& h, const std::string& service, std::uint32_t seconds, const std::string& reason = "more time") {
  v1::Request r;
  r.set_request_id(11);
  auto* e = r.mutable_extend();
  e->set_service(service);
  e->set_duration_seconds(seconds);
  e->set_actor("carol");
  e->set_reason(reason);
  return h.call(r);
}

v1::Response open_with_reason(harness& h, const std::string& reason) {
  v1::Request r;
  auto* o = r.mutable_open();
  o->set_service("metrics");
  o->set_external_port(9100);
  o->set_source("10.0.0.2");
  o->set_duration_seconds(60);
  o->set_actor("alice");
  o->set_reason(reason);
  return h.call(r);
}

v1::ListResult list(harness& h) {
  v1::Request r;
  r.mutable_list();
  auto resp = h.call(r);
  REQUIRE_FALSE(resp.has_error());
  return resp.list();
}

std::int64_t ms_of(const google::protobuf::Timestamp& t) { return google::protobuf::util::TimeUtil::TimestampToMilliseconds(t); }

// The disk refuses the next journal append: the store's journal descriptor is swapped for a
// read-only one, so write() fails (EBADF) and the store reopens the real journal afterwards.
void break_journal(harness& h) {
  const std::string journal = h.dir.file("port_mappings.json.journal");
  int swapped = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (ec || target != journal) continue;
    const int ro = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(ro >= 0);
    REQUIRE(::dup2(ro, std::stoi(entry.path().filename().string())) >= 0);
    ::close(ro);
    ++swapped;
  }
  REQUIRE(swapped == 1);
}
}  // namespace

TEST_CASE("extend moves a door's deadline later in one kernel batch, records who and why, and the timer follows") {
  harness h;
  auto opened = h.open("metrics", 9100, "10.0.0.2", 60);
  REQUIRE_FALSE(opened.has_error());
  h.now += 10000;
  const auto batches = h.nft.batches.size();
  auto r = extend(h, "metrics", 600);
  REQUIRE_FALSE(r.has_error());
  CHECK(r.request_id() == 11);
  // One batch: the element is replaced with the new timeout, the forward is left alone.
  REQUIRE(h.nft.batches.size() == batches + 1);
  CHECK(h.nft.batches.back() ==
        "delete element inet sms_bridge grant_hosts4 { 10.0.0.2 . 9100 }\n"
        "add element inet sms_bridge fwd4 { 9100 : 127.0.0.1 . 8080 }\n"
        "add element inet sms_bridge grant_hosts4 { 10.0.0.2 . 9100 timeout 600s }\n");
  CHECK(ms_of(r.extend().grant().expires_at()) == h.now + 600000);
  CHECK(ms_of(r.extend().previous_expires_at()) == ms_of(opened.open().grant().expires_at()));
  CHECK(r.extend().grant().grant_id() == opened.open().grant().grant_id());
  CHECK(r.extend().grant().opened_by() == "alice");
  const auto events = h.events();
  REQUIRE(events.size() == 2);
  CHECK(events[1].kind() == v1::EXTENDED);
  CHECK(events[1].actor() == "carol");
  CHECK(events[1].reason() == "more time");
  CHECK(ms_of(events[1].grant().expires_at()) == h.now + 600000);
  CHECK(ms_of(events[1].previous_expires_at()) == ms_of(opened.open().grant().expires_at()));
  CHECK(h.lines(log::level::notice, "moved the deadline of door metrics") == 1);
  CHECK(h.service->next_deadline_ms() == h.now + h.steady_offset + 600000);
  // The old deadline passes: the door stays.
  h.now += 50000;
  h.service->expire_due();
  CHECK(h.service->live_grants() == 1);
  h.now += 550000;
  h.service->expire_due();
  CHECK(h.service->live_grants() == 0);
  CHECK(h.event_kinds().back() == v1::EXPIRED);
}

TEST_CASE("extend can shorten a door, and it then expires at the new deadline") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 600).has_error());
  auto r = extend(h, "metrics", 3);
  REQUIRE_FALSE(r.has_error());
  CHECK(h.nft.batches.back().find("grant_hosts4 { 10.0.0.2 . 9100 timeout 3s }") != std::string::npos);
  CHECK(h.service->next_deadline_ms() == h.now + h.steady_offset + 3000);
  h.now += 2999;
  h.service->expire_due();
  CHECK(h.service->live_grants() == 1);
  h.now += 1;
  h.service->expire_due();
  CHECK(h.service->live_grants() == 0);
}

TEST_CASE("an extended deadline is durable: a restart keeps it") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  REQUIRE_FALSE(extend(h, "metrics", 900).has_error());
  h.now += 100000;  // past the old deadline, well before the new one
  h.restart();
  REQUIRE(h.service->live_grants() == 1);
  CHECK(h.nft.saw("grant_hosts4 { 10.0.0.2 . 9100 timeout 800s }"));
  CHECK(h.service->next_deadline_ms() == h.now + h.steady_offset + 800000);
}

TEST_CASE("a shortening extend cut off before its state write: after a restart the kernel's deadline is the one reported") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 600).has_error());
  // The kernel took a 30 s timeout, then the helper died before the state file said so.
  h.now += 10000;
  h.nft.listing = listing_with("10.0.0.2", 30);
  h.restart();
  REQUIRE(h.service->live_grants() == 1);
  CHECK(h.service->next_deadline_ms() == h.now + h.steady_offset + 30999);
  v1::Request list;
  list.mutable_list();
  const auto page = h.call(list);
  REQUIRE(page.list().grants_size() == 1);
  CHECK(ms_of(page.list().grants(0).expires_at()) == h.now + 30999);
}

TEST_CASE("extending a door in its last second is NOT_OPEN: the door is closing") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  const auto batches = h.nft.batches.size();
  h.now += 59500;
  const auto r = extend(h, "metrics", 600);
  CHECK(code_of(r) == v1::NOT_OPEN);
  CHECK(r.error().message() == "The door of 'metrics' is closing (its deadline is less than a second away); open it again.");
  CHECK(h.nft.batches.size() == batches);
  h.now += 500;
  h.service->expire_due();
  CHECK(h.service->live_grants() == 0);
}

TEST_CASE("every bad extend is refused with its typed code and changes nothing") {
  harness h;
  CHECK(code_of(extend(h, "metrics", 60)) == v1::NOT_OPEN);
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  const auto batches = h.nft.batches.size();
  const auto deadline = h.service->next_deadline_ms();
  CHECK(code_of(extend(h, "nosuch", 60)) == v1::UNKNOWN_SERVICE);
  CHECK(code_of(extend(h, "Bad Name", 60)) == v1::INVALID_ARGUMENT);
  CHECK(code_of(extend(h, "postgres", 60)) == v1::NOT_OPEN);
  CHECK(code_of(extend(h, "metrics", 0)) == v1::DURATION_OUT_OF_RANGE);
  CHECK(code_of(extend(h, "metrics", 3601)) == v1::DURATION_OUT_OF_RANGE);
  CHECK(code_of(extend(h, "metrics", 60, "two\nlines")) == v1::INVALID_ARGUMENT);
  CHECK(code_of(extend(h, "metrics", 60, std::string(201, 'x'))) == v1::INVALID_ARGUMENT);
  auto refused = extend(h, "metrics", 60, std::string(201, 'x'));
  CHECK(refused.error().message() == "The reason must be at most 200 printable characters, with no newlines or other control characters.");
  CHECK(extend(h, "nosuch", 60).error().message() == "The firewall helper has no service named 'nosuch'.");
  CHECK(extend(h, "postgres", 60).error().message() == "Service 'postgres' has no open door.");
  CHECK(h.nft.batches.size() == batches);
  CHECK(h.service->next_deadline_ms() == deadline);
  CHECK(h.event_kinds() == std::vector<v1::EventKind>{v1::OPENED});
}

TEST_CASE("an extend the config would no longer allow is refused with the sentence Open gives") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  h.config.forbidden_ports.insert(9100);
  auto r = extend(h, "metrics", 120);
  CHECK(code_of(r) == v1::PORT_FORBIDDEN);
  CHECK(r.error().message() == "External port 9100 is forbidden by the helper config.");
}

TEST_CASE("a kernel refusal of an extend is NFT_FAILED and leaves the deadline alone") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  const auto deadline = h.service->next_deadline_ms();
  h.nft.refuse_changes = true;
  auto r = extend(h, "metrics", 600);
  CHECK(code_of(r) == v1::NFT_FAILED);
  CHECK(r.error().message() == "The kernel refused to change the door of 'metrics'; its deadline is unchanged.");
  CHECK(h.service->next_deadline_ms() == deadline);
  CHECK(h.event_kinds() == std::vector<v1::EventKind>{v1::OPENED});
  h.nft.refuse_changes = false;
  h.restart();
  CHECK(h.service->next_deadline_ms() == deadline);
}

TEST_CASE("an Open whose journal cannot be written is taken out of the kernel again") {
  harness h;
  REQUIRE_FALSE(h.open("postgres", 9187, "10.0.0.2", 60).has_error());  // the journal is open
  break_journal(h);
  h.logged.clear();
  CHECK(code_of(h.open("metrics", 9100, "10.0.0.2", 60)) == v1::STATE_WRITE_FAILED);
  REQUIRE(h.nft.batches.size() >= 2);
  CHECK(h.nft.batches[h.nft.batches.size() - 2].find("add element inet sms_bridge grant_hosts4 { 10.0.0.2 . 9100") != std::string::npos);
  CHECK(h.nft.batches.back().find("delete element inet sms_bridge grant_hosts4 { 10.0.0.2 . 9100 }") != std::string::npos);
  CHECK(h.service->live_grants() == 1);
  CHECK(h.event_kinds() == std::vector<v1::EventKind>{v1::OPENED});
  CHECK(h.lines(log::level::error, "cannot record the opening of 'metrics' in the state journal") == 1);
  h.restart();
  CHECK(h.service->live_grants() == 1);
}

TEST_CASE("an extend whose state cannot be written is rolled back in the kernel") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  h.now += 10000;
  const auto deadline = h.service->next_deadline_ms();
  break_journal(h);
  auto r = extend(h, "metrics", 600);
  CHECK(code_of(r) == v1::STATE_WRITE_FAILED);
  // Renewed to 600 s, then back to the 50 s the door had left.
  REQUIRE(h.nft.batches.size() >= 2);
  CHECK(h.nft.batches[h.nft.batches.size() - 2].find("timeout 600s") != std::string::npos);
  CHECK(h.nft.batches.back() ==
        "delete element inet sms_bridge grant_hosts4 { 10.0.0.2 . 9100 }\n"
        "add element inet sms_bridge fwd4 { 9100 : 127.0.0.1 . 8080 }\n"
        "add element inet sms_bridge grant_hosts4 { 10.0.0.2 . 9100 timeout 50s }\n");
  CHECK(h.service->next_deadline_ms() == deadline);
  CHECK(h.event_kinds() == std::vector<v1::EventKind>{v1::OPENED});
  // The store recovered: the next extend works and is durable.
  REQUIRE_FALSE(extend(h, "metrics", 300).has_error());
  h.restart();
  CHECK(h.service->next_deadline_ms() == h.now + h.steady_offset + 300000);
}

TEST_CASE("an open's reason is checked, kept in the grant, the state file and the events") {
  harness h;
  CHECK(code_of(open_with_reason(h, std::string(201, 'x'))) == v1::INVALID_ARGUMENT);
  CHECK(code_of(open_with_reason(h, "tab\there")) == v1::INVALID_ARGUMENT);
  CHECK(code_of(open_with_reason(h, "\x1b[31mred")) == v1::INVALID_ARGUMENT);
  CHECK(code_of(open_with_reason(h, "bad \xc3 utf-8")) == v1::INVALID_ARGUMENT);
  CHECK(code_of(open_with_reason(h, "overlong \xc0\xaf")) == v1::INVALID_ARGUMENT);
  CHECK(code_of(open_with_reason(h, "C1 \xc2\x85 control")) == v1::INVALID_ARGUMENT);
  CHECK(h.service->live_grants() == 0);
  // 200 characters, not bytes: 200 two-byte letters are accepted.
  std::string umlauts;
  for (int i = 0; i < 200; ++i) umlauts += "\xc3\xa4";
  auto r = open_with_reason(h, umlauts);
  REQUIRE_FALSE(r.has_error());
  CHECK(r.open().grant().reason() == umlauts);
  REQUIRE(h.close("metrics").has_error() == false);
  r = open_with_reason(h, "Grafana shows gaps since 09:00");
  REQUIRE_FALSE(r.has_error());
  CHECK(r.open().grant().reason() == "Grafana shows gaps since 09:00");
  CHECK(h.events().back().reason() == "Grafana shows gaps since 09:00");
  REQUIRE_FALSE(extend(h, "metrics", 120, "still looking").has_error());
  const auto e = h.events().back();
  CHECK(e.kind() == v1::EXTENDED);
  CHECK(e.reason() == "still looking");
  CHECK(e.grant().reason() == "Grafana shows gaps since 09:00");  // the grant keeps the open's reason
  h.restart();
  const auto listed = list(h);
  REQUIRE(listed.grants_size() == 1);
  CHECK(listed.grants(0).reason() == "Grafana shows gaps since 09:00");
}

TEST_CASE("list reports the kernel's own remaining time, from one listing per request") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  h.now += 1000;
  h.nft.listing = listing_with("10.0.0.2", 58);  // 58 to 59 s left: the helper's 59 s agrees
  const auto batches = h.nft.batches.size();
  auto listed = list(h);
  REQUIRE(listed.grants_size() == 1);
  REQUIRE(listed.grants(0).has_kernel_expires_in_ms());
  CHECK(listed.grants(0).kernel_expires_in_ms() == 58000);
  CHECK(h.nft.batches.size() == batches + 1);
  CHECK(h.nft.batches.back() == "list table inet sms_bridge\n");
  // The kernel's figure, not the state's: a second later the kernel says 57.
  h.now += 1000;
  h.nft.listing = listing_with("10.0.0.2", 57);
  CHECK(list(h).grants(0).kernel_expires_in_ms() == 57000);
  CHECK(h.event_kinds() == std::vector<v1::EventKind>{v1::OPENED});
  // Without a table the answer has no kernel figure, and the reconciler is asked to run.
  (void)h.service->take_reconcile_request();
  h.nft.listing.reset();
  listed = list(h);
  REQUIRE(listed.grants_size() == 1);
  CHECK_FALSE(listed.grants(0).has_kernel_expires_in_ms());
  CHECK(h.service->take_reconcile_request());
  // Other answers never carry it.
  auto ext = extend(h, "metrics", 60);
  CHECK_FALSE(ext.extend().grant().has_kernel_expires_in_ms());
}

// The table holding exactly the door metrics 9100 from 10.0.0.2, expiring in `expires` s: nothing
// for a List to repair or rebuild.
std::string one_door_listing(int expires) {
  std::ifstream in(std::string(FIXTURE_DIR) + "/kernel_listing_one_door.json");
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  const auto at = text.find(R"("expires": 59)");
  REQUIRE(at != std::string::npos);
  return text.replace(at, 13, R"("expires": )" + std::to_string(expires));
}

TEST_CASE("lists within a second of a listing answer from it, aged; a change in between lists again") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  (void)h.service->take_reconcile_request();
  h.nft.listing = one_door_listing(59);
  const auto before = std::count(h.nft.batches.begin(), h.nft.batches.end(), "list table inet sms_bridge\n");  // start-up's
  const auto listings = [&] { return std::count(h.nft.batches.begin(), h.nft.batches.end(), "list table inet sms_bridge\n") - before; };
  CHECK(list(h).grants(0).kernel_expires_in_ms() == 59000);
  CHECK(listings() == 1);
  // 400 ms later: the same listing, 400 ms older, not a second listing of the table.
  h.now += 400;
  h.nft.listing = one_door_listing(10);  // what the kernel would say now is not asked
  CHECK(list(h).grants(0).kernel_expires_in_ms() == 58600);
  CHECK(listings() == 1);
  // A second after the listing, the table is listed again (and its drift seen).
  h.now += 600;
  h.nft.listing = one_door_listing(58);
  CHECK(list(h).grants(0).kernel_expires_in_ms() == 58000);
  CHECK(listings() == 2);
  // A change the helper makes forgets the listing at once: the next List lists the table.
  REQUIRE(extend(h, "metrics", 58).has_extend());
  h.nft.listing = one_door_listing(57);
  CHECK(list(h).grants(0).kernel_expires_in_ms() == 57000);
  CHECK(listings() == 3);
  h.now += 100;
  CHECK(list(h).grants(0).kernel_expires_in_ms() == 56900);  // within the second again: no listing
  CHECK(listings() == 3);
  CHECK(h.event_kinds() == std::vector<v1::EventKind>{v1::OPENED, v1::EXTENDED});  // no drift seen, none repaired
}

TEST_CASE("a kernel timeout that drifted from the deadline is repaired, reported, and listed as repaired") {
  harness h;
  REQUIRE_FALSE(h.open("metrics", 9100, "10.0.0.2", 60).has_error());
  h.now += 10000;  // 50 s left
  h.nft.listing = listing_with("10.0.0.2", 20);  // someone set 20 s behind the helper's back
  auto listed = list(h);
  REQUIRE(listed.grants_size() == 1);
  CHECK(listed.grants(0).kernel_expires_in_ms() == 50000);
  CHECK(h.nft.saw("delete element inet sms_bridge grant_hosts4 { 10.0.0.2 . 9100 }\n"
                  "add element inet sms_bridge fwd4 { 9100 : 127.0.0.1 . 8080 }\n"
                  "add element inet sms_bridge grant_hosts4 { 10.0.0.2 . 9100 timeout 50s }\n"));
  const auto events = h.events();
  REQUIRE(events.back().kind() == v1::DRIFT_REPAIRED);
  CHECK(events.back().grant().service() == "metrics");
  CHECK(events.back().detail() == "the kernel's deadline of 'metrics' drifted by 30 s (20 s left instead of 50 s); re-applied");
  v1::Request status;
  status.mutable_status();
  CHECK(h.call(status).status().counters().drift_repairs() == 1);
  CHECK(h.lines(log::level::warning, "drift: the kernel's deadline of 'metrics' drifted by 30 s") == 1);
  // The periodic reconciler repairs it the same way.
  h.nft.listing = listing_with("10.0.0.2", 3000);
  h.service->reconcile();
  CHECK(h.events().back().kind() == v1::DRIFT_REPAIRED);
  CHECK(h.events().back().detail().find("drifted by 2950 s") != std::string::npos);
  CHECK(h.call(status).status().counters().drift_repairs() == 2);
  // No drift, no repair.
  h.nft.listing = listing_with("10.0.0.2", 49);
  h.service->reconcile();
  (void)list(h);
  std::size_t repairs = 0;
  for (const auto& e : h.events()) repairs += e.kind() == v1::DRIFT_REPAIRED;
  CHECK(repairs == 2);
}
