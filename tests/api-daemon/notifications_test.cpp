// Notifications: events to notifications, reminders, the outbox plan, the settings' validation, the
// shared backoff, and the delivery worker against a fake store and a fake sender.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "api-daemon/audit_drain.hpp"
#include "api-daemon/crypto.hpp"
#include "api-daemon/notification_admin.hpp"
#include "api-daemon/notification_outbox.hpp"
#include "api-daemon/notifications.hpp"
#include "api-daemon/retry_backoff.hpp"
#include "common/log.hpp"
#include "tests/api-daemon/fakes.hpp"
#include "tests/result_string_maker.hpp"

using namespace smsbridge::api;
using namespace smsbridge::api::testing;
namespace json = boost::json;

namespace {
// 2026-12-01T18:00:00Z
constexpr std::int64_t t0 = 1796148000;

v1::Event event(v1::EventKind kind, std::uint64_t seq, std::int64_t expires_in = 3600, std::string grant = "g1") {
  v1::Event e;
  e.set_seq(seq);
  e.set_kind(kind);
  *e.mutable_at() = TimeUtil::SecondsToTimestamp(t0);
  auto& g = *e.mutable_grant();
  g.set_grant_id(std::move(grant));
  g.set_service("ssh");
  g.set_external_port(2222);
  g.set_source("203.0.113.5/32");
  g.set_opened_by("alice");
  g.set_reason("deploy");
  *g.mutable_opened_at() = TimeUtil::SecondsToTimestamp(t0);
  *g.mutable_expires_at() = TimeUtil::SecondsToTimestamp(t0 + expires_in);
  if (kind != v1::OPENED) e.set_actor("bob");
  return e;
}

json::object body_of(const std::string& payload) { return json::parse(payload).as_object(); }

notification_settings both_channels(std::int64_t remind = 0) {
  notification_settings s;
  s.webhook_url = "https://hooks.example/door";
  s.webhook_secret = "hook-secret";
  s.ntfy_url = "https://ntfy.example/doors";
  s.remind_before_close_minutes = remind;
  return s;
}

std::vector<std::string> kinds_of(const notification_plan& plan) {
  std::vector<std::string> out;
  for (const auto& op : plan) {
    // fmt, not chained operator+: g++ 12 at -O3 reports a false -Wrestrict for that.
    out.push_back(op.what == outbox_op::action::drop_reminders ? fmt::format("drop:{}", op.grant_id) : fmt::format("{}:{}", op.channel, op.kind));
  }
  return out;
}
}  // namespace

TEST_CASE("every door event of the helper becomes its notification, with a sentence that names the door") {
  const std::vector<std::pair<v1::EventKind, std::string>> table{
      {v1::OPENED, "opened"},          {v1::EXTENDED, "extended"},          {v1::CLOSED, "closed"},
      {v1::EXPIRED, "expired"},        {v1::EXPIRED_WHILE_DOWN, "expired_while_down"}, {v1::DRIFT_REPAIRED, "drift_repaired"},
      {v1::DRIFT_REMOVED, "drift_closed"}, {v1::SHUTDOWN_CLOSED, "closed"}};
  for (const auto& [kind, name] : table) {
    INFO(name);
    const auto n = notification_of(event(kind, 7));
    REQUIRE(n);
    CHECK(name_of(n->kind) == name);
    CHECK(n->sentence.find("ssh") != std::string::npos);
    CHECK(!n->title.empty());
    CHECK(body_of(notification_body(*n)).at("event").as_string() == name);
  }
  CHECK(!notification_of(event(v1::STATE_CORRUPT, 8)));
}

TEST_CASE("an opened notification carries who, from where, until when and why") {
  const auto n = notification_of(event(v1::OPENED, 1));
  REQUIRE(n);
  CHECK(n->sentence == "Door ssh (port 2222) was opened by alice for 203.0.113.5/32 until 2026-12-01T19:00:00Z (reason: deploy).");
  const auto body = body_of(notification_body(*n));
  CHECK(body.at("service").as_string() == "ssh");
  CHECK(body.at("port").as_int64() == 2222);
  CHECK(body.at("source").as_string() == "203.0.113.5/32");
  CHECK(body.at("actor").as_string() == "alice");
  CHECK(body.at("reason").as_string() == "deploy");
  CHECK(body.at("expires_at").as_string() == "2026-12-01T19:00:00Z");
  CHECK(body.at("previous_expires_at").is_null());
  CHECK(body.at("at").as_string() == "2026-12-01T18:00:00Z");
  CHECK(body.at("message").as_string() == n->sentence);
}

TEST_CASE("an extended notification says the new and the old deadline, and who changed it") {
  auto e = event(v1::EXTENDED, 2, 7200);
  *e.mutable_previous_expires_at() = TimeUtil::SecondsToTimestamp(t0 + 3600);
  e.set_reason("more time");
  const auto n = notification_of(e);
  REQUIRE(n);
  CHECK(n->kind == notice_kind::extended);
  CHECK(n->actor == "bob");
  CHECK(n->sentence == "Door ssh (port 2222) was changed by bob: it now closes at 2026-12-01T20:00:00Z instead of "
                       "2026-12-01T19:00:00Z (reason: more time).");
  const auto body = body_of(notification_body(*n));
  CHECK(body.at("previous_expires_at").as_string() == "2026-12-01T19:00:00Z");
  CHECK(body.at("expires_at").as_string() == "2026-12-01T20:00:00Z");
}

TEST_CASE("a close the helper did not carry out is a close_failed notification that says the door may be open") {
  const auto n = close_failed_notification("ssh", "alice", "The firewall helper is not running.", "2026-12-01T18:00:00Z");
  CHECK(n.kind == notice_kind::close_failed);
  CHECK(n.sentence == "Closing door ssh (asked by alice) failed: The firewall helper is not running. The door may still be open.");
  CHECK(close_failed_notification("", "alice", "The firewall helper is not running.", "").sentence ==
        "Closing every door (asked by alice) failed: The firewall helper is not running. The doors may still be open.");
  const auto plan = plan_notification(n, both_channels(), "close_failed:x");
  CHECK(kinds_of(plan) == std::vector<std::string>{"webhook:close_failed", "ntfy:close_failed"});
  auto off = both_channels();
  off.events.erase(notice_kind::close_failed);
  CHECK(plan_notification(n, off, "close_failed:y").empty());
}

TEST_CASE("a reminder is due remind_before_close_minutes before the deadline, and a door too short gets none") {
  const auto opened = notification_of(event(v1::OPENED, 1, 3600));
  const auto r = reminder_of(*opened, 10);
  REQUIRE(r);
  CHECK(r->due_at == "2026-12-01T18:50:00Z");
  CHECK(r->notice.kind == notice_kind::closes_soon);
  CHECK(r->notice.sentence == "Door ssh (port 2222) closes in 10 minutes, at 2026-12-01T19:00:00Z.");
  CHECK(body_of(notification_body(r->notice)).at("minutes_left").as_int64() == 10);
  CHECK(!reminder_of(*notification_of(event(v1::OPENED, 2, 600)), 10));  // due at the open itself
  CHECK(!reminder_of(*opened, 0));                                          // reminders off
  CHECK(!reminder_of(*notification_of(event(v1::CLOSED, 3)), 10));         // closes remind of nothing
}

TEST_CASE("the plan queues each event per channel, reschedules the reminder on extension, and drops it on close") {
  auto extended = event(v1::EXTENDED, 2, 7200);
  *extended.mutable_previous_expires_at() = TimeUtil::SecondsToTimestamp(t0 + 3600);
  const auto plan = plan_notifications({event(v1::OPENED, 1), extended, event(v1::CLOSED, 3)}, both_channels(10));
  CHECK(kinds_of(plan) == std::vector<std::string>{
                              "webhook:opened", "ntfy:opened", "webhook:closes_soon", "ntfy:closes_soon",      // the open
                              "drop:g1", "webhook:extended", "ntfy:extended", "webhook:closes_soon", "ntfy:closes_soon",  // moved
                              "drop:g1", "webhook:closed", "ntfy:closed"});                                   // dropped
  CHECK(plan[2].due_at == "2026-12-01T18:50:00Z");
  CHECK(plan[7].due_at == "2026-12-01T19:50:00Z");
  CHECK(plan[0].dedupe_key == "webhook:event:1");
  CHECK(plan[1].dedupe_key == "ntfy:event:1");
  CHECK(plan[2].dedupe_key == "webhook:reminder:1");
  CHECK(plan[0].grant_id == "g1");
  CHECK(plan[0].due_at.empty());
}

TEST_CASE("the plan keeps only the chosen events and channels, and queues nothing when no channel is set") {
  auto s = both_channels(10);
  s.ntfy_url.clear();
  s.events = {notice_kind::closed, notice_kind::expired};
  const auto plan = plan_notifications({event(v1::OPENED, 1), event(v1::EXPIRED, 2), event(v1::STATE_CORRUPT, 3)}, s);
  // An expiry still drops the door's reminder, whatever the chosen events.
  CHECK(kinds_of(plan) == std::vector<std::string>{"drop:g1", "webhook:expired"});
  CHECK(plan_notifications({event(v1::OPENED, 1)}, notification_settings{}).empty());
  // With no channel a close still drops the reminder queued while one was set, so that it does
  // not go out for a closed door once a channel is set again.
  CHECK(kinds_of(plan_notifications({event(v1::CLOSED, 4), event(v1::EXTENDED, 5, 7200)}, notification_settings{})) ==
        std::vector<std::string>{"drop:g1", "drop:g1"});
}

TEST_CASE("notification settings: defaults, a full section, and one sentence naming the field per mistake") {
  const auto none = parse_notification_settings(R"({"settings": {}})");
  REQUIRE(none);
  CHECK(none->channels().empty());
  CHECK(none->events.size() == selectable_notice_kinds().size());
  CHECK(none->remind_before_close_minutes == 0);
  const auto full = parse_notification_settings(R"({"settings": {"notifications": {"webhook_url": "https://h.example/x",
      "webhook_secret": "s", "ntfy_url": "http://ntfy.local/doors", "remind_before_close_minutes": 15,
      "events": ["opened", "closes_soon"], "ca_file": "/etc/ssl/ca.pem"}}})");
  REQUIRE(full);
  CHECK(full->channels() == std::vector<std::string>{"webhook", "ntfy"});
  CHECK(full->events == std::set<notice_kind>{notice_kind::opened, notice_kind::closes_soon});
  CHECK(full->remind_before_close_minutes == 15);
  const std::vector<std::pair<std::string, std::string>> mistakes{
      {R"({"webhook_url": "ftp://x", "webhook_secret": "s"})", "settings.notifications.webhook_url must start with https://"},
      {R"({"webhook_url": "https://u:p@x/", "webhook_secret": "s"})", "settings.notifications.webhook_url is not a usable URL"},
      {R"({"webhook_url": "https://x/"})", "settings.notifications.webhook_secret must be set when webhook_url is"},
      {R"({"ntfy_url": 5})", "settings.notifications.ntfy_url must be a URL"},
      {R"({"remind_before_close_minutes": -1})", "settings.notifications.remind_before_close_minutes must be a whole number from 0"},
      {R"({"remind_before_close_minutes": 1441})", "settings.notifications.remind_before_close_minutes must be a whole number from 0"},
      {R"({"events": ["opened", "exploded"]})", "settings.notifications.events: exploded is not an event; choose from: opened,"},
      {R"({"events": ["test"]})", "settings.notifications.events: test is not an event"},
      {R"({"events": "opened"})", "settings.notifications.events must be a list"},
      {R"({"ca_file": "relative.pem"})", "settings.notifications.ca_file must be an absolute path"},
      {R"({"colour": "red"})", "settings.notifications.colour is not a notification setting."},
  };
  for (const auto& [section, sentence] : mistakes) {
    INFO(section);
    const auto parsed = parse_notification_settings(fmt::format(R"({{"settings": {{"notifications": {}}}}})", section));
    REQUIRE(!parsed);
    CHECK(parsed.error().message.starts_with(sentence));
  }
  CHECK(!parse_notification_settings(R"({"settings": {"notifications": []}})"));
}

TEST_CASE("the settings as admins read them never show the webhook secret, and a change keeps it unless it is replaced") {
  const auto s = both_channels();
  const auto shown = notification_settings_public_json(s);
  CHECK(!shown.contains("webhook_secret"));
  CHECK(shown.at("webhook_secret_set").as_bool());
  CHECK(json::serialize(shown).find("hook-secret") == std::string::npos);
  const auto kept = changed_notification_settings(s, json::object{{"remind_before_close_minutes", 5}});
  REQUIRE(kept);
  CHECK(kept->webhook_secret == "hook-secret");
  CHECK(kept->remind_before_close_minutes == 5);
  const auto replaced = changed_notification_settings(s, json::object{{"webhook_secret", "new"}});
  REQUIRE(replaced);
  CHECK(replaced->webhook_secret == "new");
  const auto cleared = changed_notification_settings(s, json::object{{"webhook_url", ""}, {"webhook_secret", ""}});
  REQUIRE(cleared);
  CHECK(cleared->channels() == std::vector<std::string>{"ntfy"});
  const auto refused = changed_notification_settings(s, json::object{{"webhook_secret", ""}});
  REQUIRE(!refused);
  CHECK(refused.error().message.find("webhook_secret must be set") != std::string::npos);
  CHECK(!changed_notification_settings(s, json::object{{"webhook_secret_set", false}}));
}

TEST_CASE("the backoff both outboxes use doubles from a second and stops at its cap") {
  using std::chrono::seconds;
  CHECK(retry_backoff(1, seconds(30)) == seconds(1));
  CHECK(retry_backoff(2, seconds(30)) == seconds(2));
  CHECK(retry_backoff(5, seconds(30)) == seconds(16));
  CHECK(retry_backoff(6, seconds(30)) == seconds(30));
  CHECK(retry_backoff(60, seconds(300)) == seconds(300));
  CHECK(retry_backoff(0, seconds(30)) == seconds(1));
}

TEST_CASE("the ntfy request is the sentence as plain text with the title in Title") {
  const auto n = notification_of(event(v1::EXPIRED, 4));
  const auto request = ntfy_request({1, "key-1", notification_body(*n), 0});
  CHECK(request.body == n->sentence);
  CHECK(request.content_type.starts_with("text/plain"));
  REQUIRE(!request.headers.empty());
  CHECK(request.headers[0] == std::pair<std::string, std::string>{"Title", "ssh expired"});
}

// ---- the delivery worker ---------------------------------------------------------------------

namespace {
struct fake_sender final : notification_sender {
  std::vector<unsigned> answers;  // one per send, 0: unreachable; then 200
  std::vector<std::pair<std::string, notification_row>> sent;
  std::vector<std::chrono::milliseconds> timeouts;
  boost::asio::awaitable<smsbridge::fallible<backend_answer>> send(std::string channel, notification_row row, notification_settings,
                                                        std::chrono::milliseconds timeout) override {
    sent.emplace_back(channel, row);
    timeouts.push_back(timeout);
    const unsigned answer = sent.size() <= answers.size() ? answers[sent.size() - 1] : 200;
    if (answer == 0) co_return smsbridge::fail("cannot connect to the webhook hooks.example:443: timed out");
    co_return backend_answer{answer};
  }
};

struct delivery_site {
  std::string path;
  fake_notification_store store;
  fake_sender sender;
  metrics stats;
  std::unique_ptr<settings_source> settings;
  std::unique_ptr<notification_delivery> delivery;
  std::vector<std::string> logged;
  smsbridge::log::scoped_sink recorder{[this](smsbridge::log::level, std::string_view m) { logged.emplace_back(m); }};

  explicit delivery_site(const std::string& section) {
    char name[] = "/tmp/notification-settings-XXXXXX";
    ::close(::mkstemp(name));
    path = name;
    std::ofstream(path) << R"({"settings": {"notifications": )" << section << "}}";
    settings = std::make_unique<settings_source>(path);
    delivery = std::make_unique<notification_delivery>(store, sender, *settings, stats);
    for (std::int64_t id = 1; id <= 3; ++id) store.due.push_back({id, fmt::format("key-{}", id), R"({"message":"m","title":"t"})", 0});
  }
  ~delivery_site() { std::remove(path.c_str()); }
};

constexpr const char* webhook_section = R"({"webhook_url": "https://hooks.example/door", "webhook_secret": "s"})";
}  // namespace

TEST_CASE("the worker sends a batch in order, each under the per-attempt deadline, and counts what it sent") {
  delivery_site s(webhook_section);
  CHECK(run(s.delivery->deliver_batch("webhook")) == 3);
  CHECK(s.store.delivered_ids == std::vector<std::int64_t>{1, 2, 3});
  REQUIRE(s.sender.sent.size() == 3);
  CHECK(s.sender.sent[0].second.key == "key-1");
  CHECK(s.sender.timeouts[0] == notification_delivery::attempt_timeout);
  CHECK(s.stats.render().find(R"(sms_bridge_notifications_sent_total{channel="webhook"} 3)") != std::string::npos);
}

TEST_CASE("a failed attempt waits its backoff and the rest of its batch is released behind it, untried") {
  delivery_site s(webhook_section);
  s.store.due[0].attempts = 3;  // failed three times already
  s.sender.answers = {0};
  CHECK(run(s.delivery->deliver_batch("webhook")) == 0);
  REQUIRE(s.store.failures.size() == 1);
  CHECK(s.store.failures[0].id == 1);
  CHECK(s.store.failures[0].retry_in == std::chrono::seconds(8));
  CHECK(s.store.failures[0].give_up_after == notification_delivery::give_up_after);
  CHECK(s.store.failures[0].error.find("timed out") != std::string::npos);
  CHECK(s.store.released_ids == std::vector<std::int64_t>{2, 3});
  CHECK(s.sender.sent.size() == 1);
  CHECK(s.stats.render().find(R"(sms_bridge_notifications_failed_total{channel="webhook"} 1)") != std::string::npos);
  REQUIRE(s.logged.size() == 1);
  CHECK(s.logged[0].find("attempt 4") != std::string::npos);
}

TEST_CASE("a receiver's refusal (non-2xx) is a failed attempt too") {
  delivery_site s(webhook_section);
  s.sender.answers = {200, 503};
  CHECK(run(s.delivery->deliver_batch("webhook")) == 1);
  REQUIRE(s.store.failures.size() == 1);
  CHECK(s.store.failures[0].id == 2);
  CHECK(s.store.failures[0].error == "webhook answered 503");
  CHECK(s.store.failures[0].retry_in == std::chrono::seconds(1));
}

TEST_CASE("rows of a channel whose URL was removed fail for good, unsent") {
  delivery_site s(R"({"ntfy_url": "https://ntfy.example/doors"})");
  CHECK(run(s.delivery->deliver_batch("webhook")) == 0);
  CHECK(s.sender.sent.empty());
  REQUIRE(s.store.failures.size() == 3);
  CHECK(s.store.failures[0].give_up_after == 0);
  CHECK(s.store.failures[0].error == "no webhook URL is set any more");
}

TEST_CASE("a drain hands the trail the notifications of the batch it records, under the file's settings") {
  char name[] = "/tmp/notification-drain-XXXXXX";
  ::close(::mkstemp(name));
  std::ofstream(name) << R"({"settings": {"notifications": {"ntfy_url": "https://ntfy.example/doors", "remind_before_close_minutes": 5}}})";
  settings_source settings(name);
  fake_firewall helper;
  fake_audit_store trail;
  metrics stats;
  audit_drain audit(helper, trail, stats);
  audit.notify_with(settings);
  run(helper.open({"metrics", 9100, "10.0.0.2/32", 900, "alice", "night shift"})).value();
  run(helper.close("metrics", "alice", "done")).value();
  run(audit.drain());
  std::remove(name);
  CHECK(kinds_of(trail.notifications) == std::vector<std::string>{"ntfy:opened", "ntfy:closes_soon", "drop:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                                                  "ntfy:closed"});
  CHECK(body_of(trail.notifications[0].payload).at("actor").as_string() == "alice");
  CHECK(body_of(trail.notifications[0].payload).at("reason").as_string() == "night shift");
}

TEST_CASE("queue_notification queues a test under the current settings, and nothing when no channel is set") {
  char name[] = "/tmp/notification-queue-XXXXXX";
  ::close(::mkstemp(name));
  std::ofstream(name) << R"({"settings": {"notifications": {"webhook_url": "https://h.example/", "webhook_secret": "s"}}})";
  settings_source settings(name);
  fake_notification_store store;
  CHECK(run(queue_notification(store, settings, test_notification("alice", "2026-12-01T18:00:00Z"), "test:1")));
  CHECK(kinds_of(store.queued) == std::vector<std::string>{"webhook:test"});
  std::ofstream(name) << "{}";
  settings_source empty(name);
  store.queued.clear();
  CHECK(run(queue_notification(store, empty, test_notification("alice", "2026-12-01T18:00:00Z"), "test:2")));
  CHECK(store.queued.empty());
  std::remove(name);
}

// ---- the admin routes --------------------------------------------------------------------------

namespace {
struct routes_site {
  std::string path;
  fake_admin_store admins;
  fake_notification_store store;
  std::unique_ptr<settings_source> settings;
  trusted_proxies proxies{{}};
  basic_auth auth{admins, {}};
  admin_gate gate{auth, admins, proxies};
  router routes;
  smsbridge::log::scoped_sink quiet{[](smsbridge::log::level, std::string_view) {}};

  routes_site() {
    REQUIRE(init_crypto());
    admins.admins["alice"] = admin_record{*hash_password("correct horse battery"), 1};
    char name[] = "/tmp/notification-routes-XXXXXX";
    ::close(::mkstemp(name));
    path = name;
    std::ofstream(path) << R"({"settings": {"monitoring_ports": {"metrics": {"port": 9100, "enabled": true}}}})";
    settings = std::make_unique<settings_source>(path);
    add_notification_routes(routes, gate, *settings, store);
  }
  ~routes_site() { std::remove(path.c_str()); }
  http_response admin(http::verb verb, const std::string& target, const std::string& body = {}) {
    return call(routes, verb, target, body,
                {{"Authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5"}, {"Content-Type", "application/json"}});
  }
  json::object file() {
    std::ifstream in(path);
    return json::parse(std::string(std::istreambuf_iterator<char>(in), {})).as_object();
  }
};
}  // namespace

TEST_CASE("POST /admin/notifications saves a valid change in the settings file, keeping its other sections, and GET hides the secret") {
  routes_site s;
  auto saved = s.admin(http::verb::post, "/admin/notifications",
                       R"({"notifications": {"webhook_url": "https://h.example/x", "webhook_secret": "top-secret", "events": ["closed"]}})");
  REQUIRE(saved.result() == http::status::ok);
  CHECK(saved.body().find("top-secret") == std::string::npos);
  const auto file = s.file();
  CHECK(file.at("settings").at("notifications").at("webhook_secret").as_string() == "top-secret");
  CHECK(file.at("settings").as_object().contains("monitoring_ports"));
  const auto got = s.admin(http::verb::get, "/admin/notifications");
  REQUIRE(got.result() == http::status::ok);
  const auto shown = json::parse(got.body()).at("notifications").as_object();
  CHECK(shown.at("webhook_secret_set").as_bool());
  CHECK(shown.at("events").as_array().size() == 1);
  CHECK(got.body().find("top-secret") == std::string::npos);
  // A refused change answers the sentence and leaves the file alone.
  const auto refused = s.admin(http::verb::post, "/admin/notifications", R"({"notifications": {"remind_before_close_minutes": -3}})");
  CHECK(refused.result() == http::status::unprocessable_entity);
  CHECK(refused.body().find("settings.notifications.remind_before_close_minutes must be a whole number") != std::string::npos);
  CHECK(s.file() == file);
  CHECK(s.admin(http::verb::post, "/admin/notifications", "[]").result() == http::status::bad_request);
  CHECK(call(s.routes, http::verb::get, "/admin/notifications").result() == http::status::unauthorized);
}

TEST_CASE("POST /admin/notifications/test queues a test per channel, and refuses when there is no channel") {
  routes_site s;
  CHECK(s.admin(http::verb::post, "/admin/notifications/test").result() == http::status::conflict);
  REQUIRE(s.admin(http::verb::post, "/admin/notifications", R"({"notifications": {"ntfy_url": "https://ntfy.example/doors"}})").result() ==
          http::status::ok);
  const auto queued = s.admin(http::verb::post, "/admin/notifications/test");
  CHECK(queued.result() == http::status::accepted);
  REQUIRE(s.store.queued.size() == 1);
  CHECK(s.store.queued[0].kind == "test");
  CHECK(s.store.queued[0].channel == "ntfy");
  CHECK(body_of(s.store.queued[0].payload).at("actor").as_string() == "alice");
}
