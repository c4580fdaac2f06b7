// The delivery outbox against a fake store and a fake backend.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "api-daemon/outbox.hpp"
#include "common/log.hpp"
#include "tests/api-daemon/fakes.hpp"

using namespace smsbridge::api;
using namespace smsbridge::api::testing;

namespace {
struct outbox_site {
  std::string path;
  fake_outbox_store store;
  fake_backend backend;
  std::unique_ptr<settings_source> settings;
  std::vector<std::string> logged;
  smsbridge::log::scoped_sink recorder{[this](smsbridge::log::level, std::string_view m) { logged.emplace_back(m); }};
  std::unique_ptr<outbox_delivery> delivery;

  explicit outbox_site(const std::string& sync_url) {
    char name[] = "/tmp/outbox-settings-XXXXXX";
    ::close(::mkstemp(name));
    path = name;
    std::ofstream(path) << R"({"settings": {"sync_url": ")" << sync_url << R"("}})";
    settings = std::make_unique<settings_source>(path);
    delivery = std::make_unique<outbox_delivery>(store, backend, *settings);
    store.pending.push_back({"1", "key-1", R"({"mobile_number":"+919876543210","pin":"1234"})", 0});
  }
  ~outbox_site() { std::remove(path.c_str()); }
};
}  // namespace

TEST_CASE("an item the backend accepts is marked delivered, with its idempotency key sent") {
  outbox_site s("https://backend.example/sync");
  CHECK(run(s.delivery->deliver_one()));
  REQUIRE(s.backend.posts.size() == 1);
  CHECK(s.backend.posts[0].url == "https://backend.example/sync");
  CHECK(s.backend.posts[0].key == "key-1");
  CHECK(s.store.delivered_ids == std::vector<std::string>{"1"});
  CHECK(!run(s.delivery->deliver_one()));  // nothing left
}

TEST_CASE("a refused or failed delivery is an attempt that failed, logged with why") {
  outbox_site s("https://backend.example/sync");
  s.backend.answer = 500;
  CHECK(!run(s.delivery->deliver_one()));
  s.backend.answer = 0;
  CHECK(!run(s.delivery->deliver_one()));
  CHECK(s.store.failed_ids.size() == 2);
  CHECK(s.store.errors[0] == "the backend answered 500");
  CHECK(s.store.errors[1] == "cannot connect to the backend.");
  CHECK(s.store.delivered_ids.empty());
  REQUIRE(s.logged.size() == 2);
  CHECK(s.logged[0].find("attempt 1") != std::string::npos);
}

TEST_CASE("without a sync_url nothing is sent") {
  outbox_site s("");
  CHECK(!run(s.delivery->deliver_one()));
  CHECK(s.backend.posts.empty());
}
