// The state codec: snapshot round trip, journal decoding (torn tail vs corruption), idempotent replay.
#include <catch2/catch.hpp>

#include "result_string_maker.hpp"

#include <google/protobuf/util/time_util.h>

#include "firewall-helper/state_codec.hpp"

using namespace smsbridge::firewall;
using google::protobuf::util::TimeUtil;

namespace {
v1::Grant grant(const char* service, const char* id) {
  v1::Grant g;
  g.set_grant_id(id);
  g.set_service(service);
  g.set_external_port(9100);
  g.set_target("127.0.0.1:8080");
  g.set_source("10.0.0.2/32");
  *g.mutable_expires_at() = TimeUtil::MillisecondsToTimestamp(1'800'000'000'000);
  return g;
}
state::JournalRecord opened(const v1::Grant& g) {
  state::JournalRecord r;
  *r.mutable_opened() = g;
  return r;
}
state::JournalRecord closed(const char* service, const char* id) {
  state::JournalRecord r;
  r.mutable_closed()->set_service(service);
  r.mutable_closed()->set_grant_id(id);
  return r;
}
state::JournalRecord event(std::uint64_t seq) {
  state::JournalRecord r;
  r.mutable_event()->set_seq(seq);
  r.mutable_event()->set_kind(v1::OPENED);
  return r;
}
}  // namespace

TEST_CASE("a snapshot survives encoding and decoding, with readable UTC times") {
  state::Snapshot s;
  s.set_format(1);
  s.set_next_event_seq(7);
  *s.add_grants() = grant("metrics", "a1");
  const auto text = encode_snapshot(s);
  CHECK(text.find("\"expires_at\":\"2027-01-15T08:00:00Z\"") != std::string::npos);
  CHECK(text.find("\n\"grants\": [\n{\"grant_id\":\"a1\"") != std::string::npos);  // one grant per line
  auto back = decode_snapshot(text);
  REQUIRE(back);
  CHECK(back->SerializeAsString() == s.SerializeAsString());
}

TEST_CASE("a snapshot of another format or garbage is refused") {
  CHECK_FALSE(decode_snapshot("{\"format\": 2}"));
  CHECK_FALSE(decode_snapshot("{\"format\": 1, \"grants\": 5}"));
  CHECK_FALSE(decode_snapshot("\x01\x02garbage"));
}

TEST_CASE("a torn last journal line is ignored, a bad middle line is corruption") {
  const std::string text = encode_journal({opened(grant("metrics", "a1")), event(1)});
  auto all = decode_journal(text + "{\"opened\": {\"serv");
  REQUIRE(all);
  CHECK(all->size() == 2);
  auto bad = decode_journal("{\"nonsense\": 1}\n" + text);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("line 1") != std::string::npos);
}

TEST_CASE("replaying records is idempotent") {
  const std::vector<state::JournalRecord> records = {opened(grant("metrics", "a1")), event(1), opened(grant("redis", "b2")),
                                                     event(2), closed("metrics", "a1"), event(3)};
  state::JournalRecord ack;
  ack.set_acked_through(2);
  state::Snapshot once;
  once.set_format(1);
  once.set_next_event_seq(1);
  for (const auto& r : records) apply_record(once, r);
  apply_record(once, ack);
  state::Snapshot twice = once;
  for (const auto& r : records) apply_record(twice, r);
  apply_record(twice, ack);
  CHECK(twice.SerializeAsString() == once.SerializeAsString());
  REQUIRE(once.grants_size() == 1);
  CHECK(once.grants(0).service() == "redis");
  REQUIRE(once.events_size() == 1);
  CHECK(once.events(0).seq() == 3);
  CHECK(once.next_event_seq() == 4);
}

TEST_CASE("closing an older grant of a service does not remove its newer grant") {
  state::Snapshot s;
  s.set_format(1);
  apply_record(s, opened(grant("metrics", "new")));
  apply_record(s, closed("metrics", "old"));
  CHECK(s.grants_size() == 1);
}

TEST_CASE("a grant's reason survives the snapshot and the journal, and a file written before reasons still loads") {
  v1::Grant g = grant("metrics", "a");
  g.set_reason("Störung im Netz: Grafana prüfen");
  state::Snapshot snap;
  snap.set_format(1);
  snap.set_next_event_seq(3);
  *snap.add_grants() = g;
  auto back = decode_snapshot(encode_snapshot(snap));
  REQUIRE(back);
  REQUIRE(back->grants_size() == 1);
  CHECK(back->grants(0).reason() == "Störung im Netz: Grafana prüfen");
  CHECK_FALSE(back->grants(0).has_kernel_expires_in_ms());
  auto journal = decode_journal(encode_journal({opened(g)}));
  REQUIRE(journal);
  CHECK((*journal)[0].opened().reason() == g.reason());

  // An extension is journalled as the grant again, with its new deadline: replay replaces it.
  state::Snapshot replayed;
  apply_record(replayed, opened(g));
  v1::Grant later = g;
  *later.mutable_expires_at() = TimeUtil::MillisecondsToTimestamp(1'800'000'600'000);
  apply_record(replayed, opened(later));
  apply_record(replayed, opened(later));
  REQUIRE(replayed.grants_size() == 1);
  CHECK(TimeUtil::TimestampToMilliseconds(replayed.grants(0).expires_at()) == 1'800'000'600'000);
  CHECK(replayed.grants(0).reason() == g.reason());

  const char* old_file = R"({"format": 1, "next_event_seq": "2", "grants": [
{"grant_id": "a", "service": "metrics", "external_port": 9100, "target": "127.0.0.1:8080", "source": "10.0.0.2/32",
 "opened_at": "2027-01-15T08:00:00Z", "expires_at": "2027-01-15T08:10:00Z", "opened_by": "alice"}
], "events": [
]}
)";
  auto old = decode_snapshot(old_file);
  REQUIRE(old);
  REQUIRE(old->grants_size() == 1);
  CHECK(old->grants(0).reason().empty());
  CHECK(old->grants(0).opened_by() == "alice");
}
