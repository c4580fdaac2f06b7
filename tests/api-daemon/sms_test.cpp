// The SMS flow: the decisions of sms_core against fake tables, and the public and admin endpoints
// against a fake store: each outcome's answer, its metrics, and what was written.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <boost/json/parse.hpp>

#include "api-daemon/admin_gate.hpp"
#include "api-daemon/crypto.hpp"
#include "api-daemon/sms_admin.hpp"
#include "api-daemon/sms_public.hpp"
#include "tests/api-daemon/fakes.hpp"

using namespace smsbridge::api;
using namespace smsbridge::api::testing;

namespace {
const std::string secret = "0123456789abcdef0123";

sms_settings settings_for_test() {
  sms_settings s;
  s.allowed_countries = {"+91"};
  s.count_threshold = 2;
  return s;
}

std::string sms_for(const std::string& code) { return "ONBOARD:" + code; }

boost::json::object json_of(const http_response& r) { return boost::json::parse(r.body()).as_object(); }

// A settings file of its own per test, removed at the end.
struct settings_file {
  std::string path;
  explicit settings_file(const std::string& text) {
    char name[] = "/tmp/sms-settings-XXXXXX";
    const int fd = ::mkstemp(name);
    ::close(fd);
    path = name;
    std::ofstream(path) << text;
  }
  ~settings_file() { std::remove(path.c_str()); }
};

// The public and admin SMS routes over fakes, with one admin "alice" (HTTP Basic).
struct sms_site {
  settings_file file{R"({"settings": {"count_threshold": 2, "allowed_countries": ["+91"], "sync_url": "", "recovery_url": "https://backend.example/recover"}})"};
  fake_sms_store store;
  fake_admin_store admins;
  fake_backend backend;
  settings_source settings{file.path};
  trusted_proxies proxies{{}};
  metrics stats;
  sms_api_context context{store, settings, proxies, stats, secret, "gateway-key-0123456789", 60};
  basic_auth auth{admins, {}};
  admin_gate gate{auth, admins, proxies};
  router routes;
  sms_site() {
    REQUIRE(init_crypto());
    admins.admins["alice"] = admin_record{*hash_password("correct horse battery"), 1};
    add_sms_public_routes(routes, context);
    add_sms_admin_routes(routes, gate, context, backend);
  }
  http_response post(const std::string& target, const std::string& body, std::vector<std::pair<std::string, std::string>> h = {}) {
    h.emplace_back("Content-Type", "application/json");
    return call(routes, http::verb::post, target, body, h);
  }
  http_response admin(http::verb verb, const std::string& target, const std::string& body = {}) {
    return call(routes, verb, target, body,
                {{"Authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5"}, {"Content-Type", "application/json"}});
  }
};
}  // namespace

TEST_CASE("sms_core: a registered number's SMS verifies it once, and its PIN queues the account once") {
  fake_sms_tables t;
  const auto s = settings_for_test();
  const auto reg = register_number(t, s, secret, {"+919876543210", std::nullopt, std::nullopt, 1'700'000'000});
  REQUIRE(reg.status == register_status::issued);
  CHECK(reg.code.size() == s.hash_length);
  const auto first = receive_sms(t, s, {"+919876543210", sms_for(reg.code), "m1"});
  CHECK(first.status == receive_status::received);
  const auto replay = receive_sms(t, s, {"+919876543210", sms_for(reg.code), "m2"});
  CHECK(replay.status == receive_status::failed);
  CHECK(replay.check == "code");
  CHECK(replay.reason == "code already used");
  CHECK(set_pin(t, "+919876543210", reg.code, "sealed") == pin_status::queued);
  CHECK(set_pin(t, "+919876543210", reg.code, "sealed") == pin_status::not_verified);
  CHECK(t.outbox.size() == 1);
}

TEST_CASE("sms_core: each refusal is its own outcome and is logged once") {
  fake_sms_tables t;
  auto s = settings_for_test();
  SECTION("a number of another country") {
    CHECK(register_number(t, s, secret, {"+14155550100", {}, {}, 1}).status == register_status::country_refused);
    REQUIRE(t.logged.size() == 1);
    CHECK(t.logged[0].detail == "country not allowed");
  }
  SECTION("a blacklisted number") {
    t.blacklist.push_back("+919876543210");
    CHECK(register_number(t, s, secret, {"+919876543210", {}, {}, 1}).status == register_status::blacklisted);
    CHECK(receive_sms(t, s, {"+919876543210", "ONBOARD:ABCDEFGH", "m"}).check == "blacklist_check");
  }
  SECTION("too many registrations") {
    CHECK(register_number(t, s, secret, {"+919876543210", {}, {}, 1}).status == register_status::issued);
    CHECK(register_number(t, s, secret, {"+919876543210", {}, {}, 2}).status == register_status::issued);
    CHECK(register_number(t, s, secret, {"+919876543210", {}, {}, 3}).status == register_status::rate_limited);
  }
  SECTION("twice in the same second") {
    CHECK(register_number(t, s, secret, {"+919876543210", {}, {}, 5}).status == register_status::issued);
    CHECK(register_number(t, s, secret, {"+919876543210", {}, {}, 5}).status == register_status::just_issued);
  }
  SECTION("an SMS without the prefix") {
    const auto o = receive_sms(t, s, {"+919876543210", "hello", "m"});
    CHECK(o.check == "header_hash_check");
    REQUIRE(t.logged.size() == 1);
    CHECK(t.logged[0].status == "failed");
  }
  SECTION("an SMS from another number than the one that registered") {
    const auto reg = register_number(t, s, secret, {"+919876543210", {}, {}, 9});
    const auto o = receive_sms(t, s, {"+919876543211", sms_for(reg.code), "m"});
    CHECK(o.reason == "sent from another number");
  }
  SECTION("the database cannot be asked: fail closed") {
    t.down = true;
    CHECK(register_number(t, s, secret, {"+919876543210", {}, {}, 1}).status == register_status::unavailable);
    CHECK(receive_sms(t, s, {"+919876543210", "ONBOARD:ABCDEFGH", "m"}).status == receive_status::unavailable);
    CHECK(set_pin(t, "+919876543210", "ABCDEFGH", "x") == pin_status::unavailable);
  }
}

TEST_CASE("POST /onboarding/register, /sms/receive and /pin-setup answer from the outcome and count it") {
  sms_site site;
  auto reg = site.post("/onboarding/register", R"({"mobile_number": "+919876543210", "email": "a@example.org"})");
  REQUIRE(reg.result() == http::status::ok);
  const auto body = json_of(reg);
  CHECK(body.at("status") == "success");
  CHECK(body.at("user_timelimit_seconds").as_int64() == 900);
  const std::string code(body.at("hash").as_string());

  CHECK(site.post("/sms/receive", R"({"mobile_number": "+919876543210", "message": "ONBOARD:)" + code + R"("})").result() ==
        http::status::unauthorized);
  auto received = site.post("/sms/receive", R"({"mobile_number": "+919876543210", "message": "ONBOARD:)" + code + R"("})",
                            {{"X-API-Key", "gateway-key-0123456789"}});
  CHECK(json_of(received).at("status") == "received");
  auto replay = site.post("/sms/receive?apiKey=gateway-key-0123456789",
                          R"({"mobile_number": "+919876543210", "message": "ONBOARD:)" + code + R"("})");
  CHECK(replay.result() == http::status::ok);
  CHECK(json_of(replay).at("check") == "code");

  CHECK(site.post("/pin-setup", R"({"mobile_number": "+919876543210", "pin": "12a4", "hash": ")" + code + R"("})").result() ==
        http::status::unprocessable_entity);
  CHECK(site.post("/pin-setup", R"({"mobile_number": "+919876543210", "pin": "1234", "hash": ")" + code + R"("})").result() ==
        http::status::ok);
  CHECK(site.post("/pin-setup", R"({"mobile_number": "+919876543210", "pin": "1234", "hash": ")" + code + R"("})").result() ==
        http::status::conflict);
  // The PIN reached the store sealed, never in the clear.
  REQUIRE(site.store.tables.outbox.size() == 1);
  CHECK(site.store.tables.outbox[0].second != "1234");
  CHECK(open_secret(secret, site.store.tables.outbox[0].second) == std::optional<std::string>("1234"));

  const std::string text = site.stats.render();
  CHECK(text.find(R"(onboarding_total{status="success"} 1)") != std::string::npos);
  CHECK(text.find(R"(sms_received_total{status="received"} 1)") != std::string::npos);
  CHECK(text.find(R"(sms_received_total{status="failed"} 1)") != std::string::npos);
  CHECK(text.find(R"(validation_failures_total{check="code"} 1)") != std::string::npos);
  CHECK(text.find(R"(pin_collected_total{status="success"} 1)") != std::string::npos);
  CHECK(text.find(R"(pin_collected_total{status="rejected"} 1)") != std::string::npos);
}

TEST_CASE("the public SMS endpoints refuse bad input with a sentence and answer 503 when the database is away") {
  sms_site site;
  CHECK(site.post("/onboarding/register", "not json").result() == http::status::bad_request);
  CHECK(site.post("/onboarding/register", R"({"mobile_number": "98765"})").result() == http::status::bad_request);
  CHECK(site.post("/onboarding/register", R"({"mobile_number": "+919876543210", "email": 5})").result() == http::status::bad_request);
  CHECK(site.post("/onboarding/register", R"({"mobile_number": "+14155550100"})").result() == http::status::forbidden);
  site.store.tables.down = true;
  auto down = site.post("/onboarding/register", R"({"mobile_number": "+919876543210"})");
  CHECK(down.result() == http::status::service_unavailable);
  CHECK(json_of(down).at("detail") == "Registration is not available right now.");
  CHECK(site.post("/sms/receive", R"({"mobile_number": "+919876543210", "message": "ONBOARD:ABCDEFGH"})",
                  {{"X-API-Key", "gateway-key-0123456789"}})
            .result() == http::status::service_unavailable);
}

TEST_CASE("registrations from one address are budgeted, counted only for requests that would write") {
  sms_site site;
  site.context.requests_per_source = 2;
  router limited;
  add_sms_public_routes(limited, site.context);
  const auto post = [&](const std::string& body) {
    return call(limited, http::verb::post, "/onboarding/register", body, {{"Content-Type", "application/json"}});
  };
  for (int i = 0; i < 5; ++i) CHECK(post(R"({"mobile_number": "bad"})").result() == http::status::bad_request);
  CHECK(post(R"({"mobile_number": "+919876543210"})").result() == http::status::ok);
  CHECK(post(R"({"mobile_number": "+919876543211"})").result() == http::status::ok);
  auto over = post(R"({"mobile_number": "+919876543212"})");
  CHECK(over.result() == http::status::too_many_requests);
  CHECK(!over[http::field::retry_after].empty());
}

TEST_CASE("the SMS admin endpoints: settings, blacklist and trigger-recovery") {
  sms_site site;
  CHECK(call(site.routes, http::verb::get, "/admin/sms/settings").result() == http::status::unauthorized);
  auto got = site.admin(http::verb::get, "/admin/sms/settings");
  REQUIRE(got.result() == http::status::ok);
  CHECK(json_of(got).at("settings").at("count_threshold").as_int64() == 2);

  CHECK(site.admin(http::verb::post, "/admin/sms/settings", R"({"settings": {"no_such": 1}})").result() == http::status::unprocessable_entity);
  CHECK(site.admin(http::verb::post, "/admin/sms/settings", R"({"settings": {"hash_length": 999}})").result() ==
        http::status::unprocessable_entity);
  auto saved = site.admin(http::verb::post, "/admin/sms/settings", R"({"settings": {"count_threshold": 7}})");
  REQUIRE(saved.result() == http::status::ok);
  // In effect at once, and in the file.
  CHECK(site.settings.sms()->count_threshold == 7);
  CHECK(load_sms_settings(site.file.path)->count_threshold == 7);

  CHECK(site.admin(http::verb::post, "/admin/blacklist", R"({"mobile_number": "+919876543210", "reason": "spam"})").result() ==
        http::status::ok);
  CHECK(site.store.blacklist_reasons["+919876543210"] == "spam (by alice)");
  CHECK(json_of(site.admin(http::verb::get, "/admin/blacklist")).at("numbers").as_array().size() == 1);
  CHECK(site.admin(http::verb::delete_, "/admin/blacklist/%2B919876543210").result() == http::status::ok);
  CHECK(site.admin(http::verb::delete_, "/admin/blacklist/%2B919876543210").result() == http::status::not_found);
  CHECK(site.admin(http::verb::delete_, "/admin/blacklist/12").result() == http::status::bad_request);

  site.store.failed_items = 3;
  auto recovered = site.admin(http::verb::post, "/admin/trigger-recovery");
  REQUIRE(recovered.result() == http::status::ok);
  CHECK(json_of(recovered).at("requeued").as_int64() == 3);
  CHECK(json_of(recovered).at("recovery_url_status").as_int64() == 200);
  REQUIRE(site.backend.posts.size() == 1);
  CHECK(site.backend.posts[0].url == "https://backend.example/recover");
  CHECK(site.backend.posts[0].body.find("\"requested_by\":\"alice\"") != std::string::npos);
}
