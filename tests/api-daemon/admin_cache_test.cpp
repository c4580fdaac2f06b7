// The admin cache: lookups from memory only while the change feed is live, and never a row that
// a change may have overtaken.
#include <vector>

#include <catch2/catch.hpp>

#include "api-daemon/admin_cache.hpp"
#include "api-daemon/admin_listener.hpp"
#include "fakes.hpp"

using namespace smsbridge::api;
using namespace smsbridge::api::testing;

namespace {
struct world {
  fake_admin_store db;
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  cached_admin_store cache{db, {}, [this] { return now; }};
  world() { db.admins["alice"] = admin_record{"hash-1", 1}; }
  std::optional<admin_record> alice() {
    auto found = run(cache.find_admin("alice"));
    REQUIRE(found.has_value());
    return *found;
  }
};
}  // namespace

TEST_CASE("while the feed is live, an admin is read from the database once") {
  world w;
  w.cache.listening(true);
  CHECK(w.alice()->password_version == 1);
  CHECK(w.alice()->password_version == 1);
  CHECK(w.alice()->password_version == 1);
  CHECK(w.db.admin_lookups == 1);
}

TEST_CASE("without the feed, or after it is lost, every lookup asks the database") {
  world w;
  w.alice();
  w.alice();
  CHECK(w.db.admin_lookups == 2);
  w.cache.listening(true);
  w.alice();
  w.alice();
  CHECK(w.db.admin_lookups == 3);
  w.cache.listening(false);
  w.db.admins["alice"].password_version = 2;
  CHECK(w.alice()->password_version == 2);
  CHECK(w.alice()->password_version == 2);
  CHECK(w.db.admin_lookups == 5);
}

TEST_CASE("a change notified drops what was kept, so a new password version is seen at once") {
  world w;
  w.cache.listening(true);
  w.alice();
  w.db.admins["alice"].password_version = 2;
  w.cache.changed();
  CHECK(w.alice()->password_version == 2);
  w.db.admins.erase("alice");
  w.cache.changed();
  auto gone = run(w.cache.find_admin("alice"));
  REQUIRE(gone.has_value());
  CHECK_FALSE(gone->has_value());
}

TEST_CASE("the feed coming back forgets what was kept before, since changes in between were never announced") {
  world w;
  w.cache.listening(true);
  w.alice();
  w.cache.listening(false);
  w.db.admins["alice"].password_version = 2;  // changed while nobody listened
  w.cache.listening(true);
  CHECK(w.alice()->password_version == 2);
}

TEST_CASE("a row read before a change that arrives during the lookup is answered but not kept") {
  world w;
  w.cache.listening(true);
  w.db.during_lookup = [&w] {
    w.db.admins["alice"].password_version = 2;
    w.cache.changed();
    w.db.during_lookup = nullptr;
  };
  CHECK(w.alice()->password_version == 1);  // what that query read
  CHECK(w.alice()->password_version == 2);  // not the stale row from memory
  CHECK(w.db.admin_lookups == 2);
}

TEST_CASE("an unknown admin is never kept, so made-up names always ask the database") {
  world w;
  w.cache.listening(true);
  for (int i = 0; i < 3; ++i) {
    auto found = run(w.cache.find_admin("mallory"));
    REQUIRE(found.has_value());
    CHECK_FALSE(found->has_value());
  }
  CHECK(w.db.admin_lookups == 3);
}

TEST_CASE("a kept admin is read again after the staleness bound, even with no change announced") {
  world w;
  w.cache.listening(true);
  w.alice();
  w.now += std::chrono::seconds(29);
  w.alice();
  CHECK(w.db.admin_lookups == 1);
  w.now += std::chrono::seconds(2);
  w.alice();
  CHECK(w.db.admin_lookups == 2);
}

TEST_CASE("a database that is down is reported, not answered from memory by the cache") {
  world w;
  w.cache.listening(true);
  w.db.down = true;
  auto found = run(w.cache.find_admin("alice"));
  CHECK_FALSE(found.has_value());
}

TEST_CASE("a kept session ages: the age of its last code grows and its time left shrinks") {
  world w;
  w.cache.listening(true);
  w.db.sessions["t"] = session_record{"alice", "csrf", false, std::int64_t{10}, 100};
  REQUIRE(run(w.cache.find_session("t"))->has_value());
  w.now += std::chrono::seconds(20);
  auto later = run(w.cache.find_session("t"));
  REQUIRE(later.has_value());
  REQUIRE(later->has_value());
  CHECK((*later)->otp_age_seconds == 30);
  CHECK((*later)->expires_in_seconds == 80);
  CHECK(w.db.session_lookups == 1);
}

TEST_CASE("a kept session ends when it expires, within the staleness bound") {
  world w;
  w.cache.listening(true);
  w.db.sessions["t"] = session_record{"alice", "csrf", false, std::nullopt, 5};
  REQUIRE(run(w.cache.find_session("t"))->has_value());
  w.db.sessions.erase("t");  // what the database says once it has expired
  w.now += std::chrono::seconds(6);
  auto expired = run(w.cache.find_session("t"));
  REQUIRE(expired.has_value());
  CHECK_FALSE(expired->has_value());
}

TEST_CASE("logging out on this server ends the kept session at once, before any notification") {
  world w;
  w.cache.listening(true);
  w.db.sessions["t"] = session_record{"alice", "csrf", false, std::nullopt, 1000};
  REQUIRE(run(w.cache.find_session("t"))->has_value());
  REQUIRE(run(w.cache.delete_session("t")).has_value());
  auto after = run(w.cache.find_session("t"));
  REQUIRE(after.has_value());
  CHECK_FALSE(after->has_value());
}

TEST_CASE("a full cache forgets everything rather than grow") {
  fake_admin_store db;
  cached_admin_store cache{db, {2, std::chrono::seconds(30)}};
  cache.listening(true);
  for (const char* name : {"a", "b", "c"}) db.admins[name] = admin_record{"h", 1};
  for (const char* name : {"a", "b", "c", "a"}) REQUIRE(run(cache.find_admin(name)).has_value());
  CHECK(db.admin_lookups == 4);  // "c" found it full and cleared it, so "a" was read again
}

TEST_CASE("the admin listener retries a lasting feed at once, and backs off from one that keeps failing or ending early") {
  using std::chrono::seconds;
  auto lasting = next_listener_retry(seconds(600), seconds(16));
  CHECK(lasting.pause == seconds(0));
  CHECK(lasting.backoff == seconds(1));
  // A connection that never opened, then ones ended within 10 s: 1, 2, 4 … 30 s, never more.
  std::vector<long> pauses;
  auto backoff = seconds(1);
  for (int i = 0; i < 7; ++i) {
    const auto retry = i == 0 ? next_listener_retry(std::nullopt, backoff) : next_listener_retry(seconds(3), backoff);
    pauses.push_back(static_cast<long>(retry.pause.count()));
    backoff = retry.backoff;
  }
  CHECK(pauses == std::vector<long>{1, 2, 4, 8, 16, 30, 30});
  CHECK(next_listener_retry(seconds(10), seconds(30)).pause == seconds(0));  // 10 s is long enough
}
