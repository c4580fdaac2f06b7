// The audit drain against a fake helper and a fake trail: events are acknowledged only after they
// were recorded, a failed write keeps them in the helper, and the reconcile closes orphans only.
#include <catch2/catch.hpp>

#include "api-daemon/audit_drain.hpp"
#include "api-daemon/monitoring_context.hpp"
#include "common/log.hpp"
#include "tests/api-daemon/fakes.hpp"

using namespace smsbridge::api;
using namespace smsbridge::api::testing;

namespace {
struct audit_site {
  fake_firewall helper;
  fake_audit_store trail;
  metrics stats;
  std::vector<std::string> logged;
  smsbridge::log::scoped_sink recorder{[this](smsbridge::log::level, std::string_view m) { logged.emplace_back(m); }};
  audit_drain audit{helper, trail, stats};

  void open(const std::string& service) { run(helper.open({service, 9100, "10.0.0.2/32", 900, "alice", ""})).value(); }
};
}  // namespace

TEST_CASE("a drain records the helper's events, then acknowledges them, and counts the door events") {
  audit_site s;
  s.open("metrics");
  run(s.helper.close("metrics", "alice", "done")).value();
  run(s.audit.drain());
  CHECK(s.trail.recorded.size() == 2);
  CHECK(s.helper.journal.empty());
  const auto ack = std::find(s.helper.calls.begin(), s.helper.calls.end(), "ack");
  REQUIRE(ack != s.helper.calls.end());
  const std::string text = s.stats.render();
  CHECK(text.find(R"(service="metrics")") != std::string::npos);
  CHECK(text.find(R"(reason="opened")") != std::string::npos);
  CHECK(text.find(R"(reason="closed")") != std::string::npos);
}

TEST_CASE("an extension is recorded and counted; a drift repair is remembered for its door until it closes") {
  audit_site s;
  s.open("metrics");
  const std::string id = s.helper.doors.at("metrics").grant_id();
  run(s.helper.extend({"metrics", 1800, "alice", "more time"})).value();
  s.helper.record(v1::DRIFT_REPAIRED, s.helper.doors.at("metrics"), "system", "");
  CHECK(s.audit.drift_repaired_at(id) == nullptr);  // not drained yet
  run(s.audit.drain());
  CHECK(s.trail.recorded.size() == 3);
  CHECK(s.trail.recorded[1].kind() == v1::EXTENDED);
  CHECK(s.stats.render().find(R"(reason="extended",service="metrics")") != std::string::npos);
  REQUIRE(s.audit.drift_repaired_at(id) != nullptr);
  CHECK(s.audit.drift_repaired_at(id)->seconds() == s.trail.recorded[2].at().seconds());
  run(s.helper.close("metrics", "alice", "done")).value();
  run(s.audit.drain());
  CHECK(s.audit.drift_repaired_at(id) == nullptr);
}

TEST_CASE("events the trail cannot record stay in the helper, and the next drain records each once") {
  audit_site s;
  s.open("metrics");
  s.trail.down = true;
  run(s.audit.drain());
  CHECK(s.helper.journal.size() == 1);
  CHECK(std::find(s.helper.calls.begin(), s.helper.calls.end(), "ack") == s.helper.calls.end());
  REQUIRE(s.logged.size() == 1);
  CHECK(s.logged[0].find("cannot record 1 helper event") != std::string::npos);
  s.trail.down = false;
  run(s.audit.drain());
  run(s.audit.drain());
  CHECK(s.trail.recorded.size() == 1);
  CHECK(s.helper.journal.empty());
}

TEST_CASE("a drain takes a journal larger than one batch in several batches") {
  audit_site s;
  s.open("metrics");
  for (std::uint32_t i = 0; i < audit_drain::batch_size + 10; ++i) s.helper.record(v1::DRIFT_REPAIRED, s.helper.doors["metrics"], "", "");
  run(s.audit.drain());
  CHECK(s.trail.recorded.size() == audit_drain::batch_size + 11);
  CHECK(s.helper.journal.empty());
}

TEST_CASE("helper event numbers that go back below what was acknowledged are logged as an error, once") {
  audit_site s;
  s.open("metrics");
  run(s.helper.close("metrics", "alice", "done")).value();
  run(s.audit.drain());
  s.open("metrics");
  run(s.audit.drain());  // numbers that go on are fine
  CHECK(s.logged.empty());
  REQUIRE(s.trail.recorded.size() == 3);
  s.helper.next_seq = 3;  // a helper that numbers again from an older point
  run(s.helper.close("metrics", "alice", "done")).value();
  s.open("postgres");
  run(s.audit.drain());
  CHECK(s.trail.recorded.size() == 4);  // the trail holds 3 already: the close is lost, the open (4) is not
  REQUIRE(s.logged.size() == 1);
  CHECK(s.logged[0].find("event numbers went back (event 3 after event 3 was acknowledged)") != std::string::npos);
  s.open("metrics");
  run(s.audit.drain());  // going on from the new numbering: said once, not per batch
  CHECK(s.logged.size() == 1);
  CHECK(s.helper.journal.empty());
}

TEST_CASE("without a helper a drain does nothing and says nothing (health reports the helper)") {
  audit_site s;
  s.helper.down = true;
  run(s.audit.drain());
  CHECK(s.logged.empty());
  CHECK(s.audit.passes() == 1);
}

TEST_CASE("the reconcile closes in the trail only the doors the helper does not hold") {
  audit_site s;
  s.open("metrics");
  s.open("postgres");
  run(s.audit.drain());
  // The helper lost postgres without telling (a restart with a lost state file, say).
  s.helper.doors.erase("postgres");
  run(s.audit.reconcile());
  REQUIRE(s.trail.closed_orphans.size() == 1);
  CHECK(s.trail.open_in_trail.size() == 1);
  CHECK(s.logged.back().find("closed 1 audit row") != std::string::npos);
}

TEST_CASE("the reconcile waits while the helper still holds events") {
  audit_site s;
  s.open("metrics");
  s.trail.down = true;  // the drain cannot empty the journal
  run(s.audit.reconcile());
  CHECK(std::find(s.helper.calls.begin(), s.helper.calls.end(), "list") == s.helper.calls.end());
}

TEST_CASE("a named server records and reconciles under its name; while the helper cannot say it, nothing is recorded") {
  audit_site s;
  server_address_source configured("10.9.9.1", s.helper);
  s.audit.identify_with(configured);
  s.open("metrics");
  run(s.audit.drain());
  run(s.audit.reconcile());
  CHECK(s.trail.servers == std::vector<std::string>{"10.9.9.1", "10.9.9.1"});

  audit_site t;
  server_address_source automatic("auto", t.helper);
  t.audit.identify_with(automatic);
  t.open("metrics");
  t.helper.unreachable_verbs = {"status"};  // events can be read, the server's address cannot
  run(t.audit.drain());
  CHECK(t.trail.recorded.empty());
  CHECK(t.helper.journal.size() == 1);  // kept in the helper, not acknowledged
  CHECK(t.logged.back().find("the helper does not say which server this is") != std::string::npos);
  t.helper.unreachable_verbs.clear();
  run(t.audit.drain());
  CHECK(t.trail.servers == std::vector<std::string>{"203.0.113.10"});  // the helper's host address
  CHECK(t.trail.recorded.size() == 1);
  CHECK(t.helper.journal.empty());
}
