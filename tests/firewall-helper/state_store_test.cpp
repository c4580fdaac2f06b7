// The state file on disk: journal appends replay on load, snapshots reset the journal, corrupt files are kept aside.
#include <catch2/catch.hpp>

#include "result_string_maker.hpp"

#include <filesystem>
#include <fstream>

#include "firewall-helper/state_store.hpp"
#include "temp_dir.hpp"

using namespace smsbridge::firewall;

namespace {
state::JournalRecord opened(const char* service) {
  state::JournalRecord r;
  r.mutable_opened()->set_service(service);
  r.mutable_opened()->set_grant_id(std::string("id-") + service);
  return r;
}
}  // namespace

TEST_CASE("appended records are there after a reload") {
  temp_dir dir;
  {
    state_store store(dir.file("port_mappings.json"));
    auto loaded = store.load();
    CHECK_FALSE(loaded.corrupt);
    CHECK(loaded.snapshot.grants_size() == 0);
    CHECK(loaded.snapshot.next_event_seq() == 0);  // no file: a fresh journal, numbered by the service
    REQUIRE(store.append({opened("metrics")}));
    REQUIRE(store.append({opened("redis")}));
  }
  state_store again(dir.file("port_mappings.json"));
  auto loaded = again.load();
  CHECK_FALSE(loaded.corrupt);
  CHECK(loaded.snapshot.grants_size() == 2);
}

TEST_CASE("a snapshot holds everything and empties the journal") {
  temp_dir dir;
  state_store store(dir.file("port_mappings.json"));
  store.load();
  REQUIRE(store.append({opened("metrics")}));
  state::Snapshot s;
  s.set_format(1);
  s.set_next_event_seq(1);
  *s.add_grants() = opened("metrics").opened();
  REQUIRE(store.write_snapshot(s));
  CHECK(std::filesystem::file_size(dir.file("port_mappings.json.journal")) == 0);
  CHECK_FALSE(std::filesystem::exists(dir.file("port_mappings.json.tmp")));
  state_store again(dir.file("port_mappings.json"));
  CHECK(again.load().snapshot.grants_size() == 1);
}

TEST_CASE("a corrupt state file is kept aside and the store starts empty") {
  temp_dir dir;
  {
    std::ofstream(dir.file("port_mappings.json")) << "{ this is not json";
  }
  state_store store(dir.file("port_mappings.json"));
  auto loaded = store.load();
  REQUIRE(loaded.corrupt);
  CHECK(loaded.corrupt->find(".corrupt-") != std::string::npos);
  CHECK(loaded.snapshot.grants_size() == 0);
  CHECK(loaded.snapshot.next_event_seq() == 0);  // a fresh journal, not one numbered from 1 again
  CHECK_FALSE(std::filesystem::exists(dir.file("port_mappings.json")));
  bool kept = false;
  for (const auto& e : std::filesystem::directory_iterator(dir.path))
    kept = kept || e.path().filename().string().rfind("port_mappings.json.corrupt-", 0) == 0;
  CHECK(kept);
}

TEST_CASE("compaction is wanted only once the journal outgrows the snapshot") {
  temp_dir dir;
  state_store store(dir.file("port_mappings.json"));
  store.load();
  CHECK_FALSE(store.wants_compaction());
  for (int i = 0; i < 20000 && !store.wants_compaction(); ++i) REQUIRE(store.append({opened("metrics")}));
  CHECK(store.wants_compaction());
}

TEST_CASE("a readable state file keeps its numbering: the snapshot's next number, then the journal's events") {
  temp_dir dir;
  {
    state_store store(dir.file("port_mappings.json"));
    store.load();
    state::Snapshot s;
    s.set_format(1);
    s.set_next_event_seq(1'800'000'000'000'042);
    REQUIRE(store.write_snapshot(s));
  }
  {
    state_store store(dir.file("port_mappings.json"));
    auto loaded = store.load();
    CHECK_FALSE(loaded.corrupt);
    CHECK(loaded.snapshot.next_event_seq() == 1'800'000'000'000'042);
    state::JournalRecord event;
    event.mutable_event()->set_seq(1'800'000'000'000'042);
    REQUIRE(store.append({event}));
  }
  state_store again(dir.file("port_mappings.json"));
  CHECK(again.load().snapshot.next_event_seq() == 1'800'000'000'000'043);
}
