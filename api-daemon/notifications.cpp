// Notifications without I/O: settings, events to sentences, and the outbox plan.
#include "api-daemon/notifications.hpp"

#include <algorithm>
#include <array>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>
#include <google/protobuf/util/time_util.h>

#include "api-daemon/backend_client.hpp"
#include "api-daemon/settings_file.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;
namespace v1 = firewall::v1;
using google::protobuf::util::TimeUtil;

constexpr std::array<std::pair<notice_kind, std::string_view>, 10> names{{
    {notice_kind::opened, "opened"},
    {notice_kind::extended, "extended"},
    {notice_kind::closed, "closed"},
    {notice_kind::expired, "expired"},
    {notice_kind::expired_while_down, "expired_while_down"},
    {notice_kind::drift_repaired, "drift_repaired"},
    {notice_kind::drift_closed, "drift_closed"},
    {notice_kind::close_failed, "close_failed"},
    {notice_kind::closes_soon, "closes_soon"},
    {notice_kind::test, "test"},
}};

std::string events_list() {
  std::string out;
  for (auto k : selectable_notice_kinds()) {
    if (!out.empty()) out += ", ";
    out += name_of(k);
  }
  return out;
}

fallible<std::string> url_field(const json::value& v, const char* key) {
  if (!v.is_string() || v.as_string().size() > 2048) {
    return fail(fmt::format("settings.notifications.{} must be a URL of at most 2048 characters.", key));
  }
  std::string url(v.as_string());
  if (url.empty()) return url;
  if (!url.starts_with("https://") && !url.starts_with("http://")) {
    return fail(fmt::format("settings.notifications.{} must start with https:// (or http://, explicitly).", key));
  }
  if (!parse_url(url)) return fail(fmt::format("settings.notifications.{} is not a usable URL (a host, no credentials).", key));
  return url;
}

std::string when(const google::protobuf::Timestamp& t) {
  return t.seconds() == 0 && t.nanos() == 0 ? std::string{} : TimeUtil::ToString(t);
}

// "Door ssh (port 2222)", or "A door" when the event names none.
std::string door_words(const notification& n) {
  if (n.service.empty()) return "A door";
  return n.port ? fmt::format("Door {} (port {})", n.service, n.port) : fmt::format("Door {}", n.service);
}

std::string with_reason(const std::string& reason) { return reason.empty() ? std::string{} : fmt::format(" (reason: {})", reason); }

void describe(notification& n) {
  const std::string door = door_words(n);
  switch (n.kind) {
    case notice_kind::opened:
      n.title = fmt::format("{} opened", n.service);
      n.sentence = fmt::format("{} was opened by {} for {} until {}{}.", door, n.actor, n.source, n.expires_at, with_reason(n.reason));
      break;
    case notice_kind::extended:
      n.title = fmt::format("{} extended", n.service);
      n.sentence = fmt::format("{} was changed by {}: it now closes at {} instead of {}{}.", door, n.actor, n.expires_at,
                               n.previous_expires_at, with_reason(n.reason));
      break;
    case notice_kind::closed:
      n.title = fmt::format("{} closed", n.service);
      n.sentence = fmt::format("{} was closed by {}{}.", door, n.actor, with_reason(n.reason));
      break;
    case notice_kind::expired:
      n.title = fmt::format("{} expired", n.service);
      n.sentence = fmt::format("{} reached its deadline {} and was closed.", door, n.expires_at);
      break;
    case notice_kind::expired_while_down:
      n.title = fmt::format("{} expired while the helper was down", n.service);
      n.sentence = fmt::format("{} reached its deadline {} while the firewall helper was not running; it is closed.", door, n.expires_at);
      break;
    case notice_kind::drift_repaired:
      n.title = "Firewall drift repaired";
      n.sentence = fmt::format("The firewall helper repaired the kernel's ruleset ({}): {}", door, n.detail);
      break;
    case notice_kind::drift_closed:
      n.title = "Firewall drift closed";
      n.sentence = fmt::format("The firewall helper removed from the kernel a door it did not grant ({}): {}", door, n.detail);
      break;
    case notice_kind::close_failed:
      if (n.service.empty()) {  // close-all
        n.title = "closing every door failed";
        n.sentence = fmt::format("Closing every door (asked by {}) failed: {} The doors may still be open.", n.actor, n.detail);
      } else {
        n.title = fmt::format("closing {} failed", n.service);
        n.sentence = fmt::format("Closing door {} (asked by {}) failed: {} The door may still be open.", n.service, n.actor, n.detail);
      }
      break;
    case notice_kind::closes_soon:
      n.title = fmt::format("{} closes in {} min", n.service, n.minutes_left);
      n.sentence = fmt::format("{} closes in {} minute{}, at {}.", door, n.minutes_left, n.minutes_left == 1 ? "" : "s", n.expires_at);
      break;
    case notice_kind::test:
      n.title = "SMS Bridge test notification";
      n.sentence = fmt::format("A test notification from sms-bridge-api, sent at the request of {}.", n.actor);
      break;
  }
}

json::value text_or_null(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }

std::optional<std::int64_t> unix_seconds(const std::string& rfc3339) {
  google::protobuf::Timestamp t;
  if (rfc3339.empty() || !TimeUtil::FromString(rfc3339, &t)) return std::nullopt;
  return t.seconds();
}

void enqueue(notification_plan& plan, const notification& n, const notification_settings& s, const std::string& dedupe_key,
             const std::string& due_at = {}) {
  if (!s.wants(n.kind)) return;
  const std::string body = notification_body(n);
  for (const auto& channel : s.channels()) {
    plan.push_back({outbox_op::action::enqueue, channel, std::string(name_of(n.kind)), fmt::format("{}:{}", channel, dedupe_key), body,
                    n.grant_id, due_at});
  }
}

void drop_reminders(notification_plan& plan, const std::string& grant_id) {
  if (grant_id.empty()) return;
  plan.push_back({outbox_op::action::drop_reminders, "", "", "", "", grant_id, ""});
}
}  // namespace

std::string_view name_of(notice_kind kind) {
  for (const auto& [k, name] : names)
    if (k == kind) return name;
  return "test";
}

std::optional<notice_kind> notice_kind_named(std::string_view name) {
  for (const auto& [k, n] : names)
    if (n == name) return k;
  return std::nullopt;
}

const std::vector<notice_kind>& selectable_notice_kinds() {
  static const std::vector<notice_kind> kinds{notice_kind::opened,         notice_kind::extended,           notice_kind::closed,
                                              notice_kind::expired,        notice_kind::expired_while_down, notice_kind::drift_repaired,
                                              notice_kind::drift_closed,   notice_kind::close_failed,       notice_kind::closes_soon};
  return kinds;
}

std::vector<std::string> notification_settings::channels() const {
  std::vector<std::string> out;
  if (!webhook_url.empty()) out.emplace_back("webhook");
  if (!ntfy_url.empty()) out.emplace_back("ntfy");
  return out;
}

fallible<notification_settings> notification_settings_of(const json::value* section) {
  notification_settings out;
  if (!section) return out;
  if (!section->is_object()) return fail("settings.notifications must be an object.");
  for (const auto& [key, value] : section->as_object()) {
    if (key == "webhook_url" || key == "ntfy_url") {
      auto url = url_field(value, key == "webhook_url" ? "webhook_url" : "ntfy_url");
      if (!url) return url.error();
      (key == "webhook_url" ? out.webhook_url : out.ntfy_url) = *url;
    } else if (key == "webhook_secret") {
      if (!value.is_string() || value.as_string().size() > 256) {
        return fail("settings.notifications.webhook_secret must be a string of at most 256 characters.");
      }
      out.webhook_secret = std::string(value.as_string());
    } else if (key == "ca_file") {
      if (!value.is_string() || value.as_string().size() > 4096 || (!value.as_string().empty() && value.as_string()[0] != '/')) {
        return fail("settings.notifications.ca_file must be an absolute path (or empty).");
      }
      out.ca_file = std::string(value.as_string());
    } else if (key == "remind_before_close_minutes") {
      if (!value.is_int64() || value.as_int64() < 0 || value.as_int64() > longest_reminder_minutes) {
        return fail(fmt::format("settings.notifications.remind_before_close_minutes must be a whole number from 0 (no reminder) to {}.",
                                longest_reminder_minutes));
      }
      out.remind_before_close_minutes = value.as_int64();
    } else if (key == "events") {
      const auto bad = fail(fmt::format("settings.notifications.events must be a list drawn from: {}.", events_list()));
      if (!value.is_array() || value.as_array().size() > 32) return bad;
      out.events.clear();
      for (const auto& e : value.as_array()) {
        const auto kind = e.is_string() ? notice_kind_named(e.as_string()) : std::nullopt;
        if (!kind || *kind == notice_kind::test) {
          return fail(fmt::format("settings.notifications.events: {} is not an event; choose from: {}.",
                                  e.is_string() ? std::string(e.as_string()) : json::serialize(e), events_list()));
        }
        out.events.insert(*kind);
      }
    } else {
      return fail(fmt::format("settings.notifications.{} is not a notification setting.", std::string(key)));
    }
  }
  if (!out.webhook_url.empty() && out.webhook_secret.empty()) {
    return fail("settings.notifications.webhook_secret must be set when webhook_url is: the webhook is signed with it.");
  }
  return out;
}

fallible<notification_settings> parse_notification_settings(std::string_view json_text) {
  boost::system::error_code ec;
  const json::value root = json::parse(json_text, ec);
  if (ec || !root.is_object()) return fail("the settings file is not a JSON object.");
  const auto* settings = root.as_object().if_contains("settings");
  if (!settings) return notification_settings{};
  if (!settings->is_object()) return fail("settings must be an object.");
  return notification_settings_of(settings->as_object().if_contains("notifications"));
}

fallible<notification_settings> load_notification_settings(const std::string& path) {
  auto text = read_settings_text(path);
  if (!text) return text.error();
  if (!*text || text->value().find_first_not_of(" \t\r\n") == std::string::npos) return notification_settings{};
  auto parsed = parse_notification_settings(**text);
  if (!parsed) return fail(fmt::format("settings file {}: {}", path, parsed.error().message));
  return parsed;
}

json::object notification_settings_file_json(const notification_settings& s) {
  json::array events;
  for (auto k : selectable_notice_kinds())
    if (s.events.contains(k)) events.emplace_back(json::string(name_of(k)));
  return {{"webhook_url", s.webhook_url},
          {"webhook_secret", s.webhook_secret},
          {"ntfy_url", s.ntfy_url},
          {"ca_file", s.ca_file},
          {"remind_before_close_minutes", s.remind_before_close_minutes},
          {"events", std::move(events)}};
}

json::object notification_settings_public_json(const notification_settings& s) {
  auto out = notification_settings_file_json(s);
  out.erase("webhook_secret");
  out["webhook_secret_set"] = !s.webhook_secret.empty();
  return out;
}

fallible<notification_settings> changed_notification_settings(const notification_settings& current, const json::object& change) {
  json::object merged = notification_settings_file_json(current);
  for (const auto& [key, value] : change) {
    if (!merged.contains(key)) return fail(fmt::format("settings.notifications.{} is not a notification setting.", std::string(key)));
    merged[key] = value;
  }
  const json::value section(std::move(merged));
  return notification_settings_of(&section);
}

std::optional<notification> notification_of(const v1::Event& e) {
  notification n;
  switch (e.kind()) {
    case v1::OPENED: n.kind = notice_kind::opened; break;
    case v1::EXTENDED: n.kind = notice_kind::extended; break;
    case v1::CLOSED:
    case v1::SHUTDOWN_CLOSED: n.kind = notice_kind::closed; break;
    case v1::EXPIRED: n.kind = notice_kind::expired; break;
    case v1::EXPIRED_WHILE_DOWN: n.kind = notice_kind::expired_while_down; break;
    case v1::DRIFT_REPAIRED: n.kind = notice_kind::drift_repaired; break;
    case v1::DRIFT_REMOVED: n.kind = notice_kind::drift_closed; break;
    default: return std::nullopt;
  }
  const auto& g = e.grant();
  n.service = g.service();
  n.port = g.external_port();
  n.source = g.source();
  n.grant_id = g.grant_id();
  n.expires_at = when(g.expires_at());
  n.at = when(e.at());
  n.detail = e.detail();
  if (e.kind() == v1::OPENED) {
    n.actor = g.opened_by();
    n.reason = g.reason();
  } else {
    n.actor = e.actor().empty() ? std::string("system") : e.actor();
    n.reason = e.reason();
  }
  if (e.kind() == v1::SHUTDOWN_CLOSED && n.reason.empty()) n.reason = "the firewall helper shut down";
  if (e.kind() == v1::EXTENDED) n.previous_expires_at = when(e.previous_expires_at());
  describe(n);
  return n;
}

notification close_failed_notification(std::string service, std::string actor, std::string why, std::string at) {
  notification n;
  n.kind = notice_kind::close_failed;
  n.service = std::move(service);
  n.actor = std::move(actor);
  n.detail = std::move(why);
  n.at = std::move(at);
  describe(n);
  return n;
}

notification test_notification(std::string actor, std::string at) {
  notification n;
  n.kind = notice_kind::test;
  n.actor = std::move(actor);
  n.at = std::move(at);
  describe(n);
  return n;
}

std::optional<reminder> reminder_of(const notification& n, std::int64_t minutes) {
  if (minutes <= 0 || (n.kind != notice_kind::opened && n.kind != notice_kind::extended)) return std::nullopt;
  const auto expires = unix_seconds(n.expires_at), at = unix_seconds(n.at);
  if (!expires || !at || *expires - minutes * 60 <= *at) return std::nullopt;
  notification r = n;
  r.kind = notice_kind::closes_soon;
  r.minutes_left = minutes;
  r.previous_expires_at.clear();
  r.at.clear();  // set when it is sent: the body says when it was due instead
  describe(r);
  google::protobuf::Timestamp due;
  due.set_seconds(*expires - minutes * 60);
  return reminder{std::move(r), TimeUtil::ToString(due)};
}

std::string notification_body(const notification& n) {
  json::object body{{"event", name_of(n.kind)},
                    {"service", text_or_null(n.service)},
                    {"port", n.port ? json::value(n.port) : json::value(nullptr)},
                    {"source", text_or_null(n.source)},
                    {"actor", text_or_null(n.actor)},
                    {"reason", text_or_null(n.reason)},
                    {"expires_at", text_or_null(n.expires_at)},
                    {"previous_expires_at", text_or_null(n.previous_expires_at)},
                    {"at", text_or_null(n.at)},
                    {"title", n.title},
                    {"message", n.sentence},
                    {"detail", text_or_null(n.detail)}};
  if (n.kind == notice_kind::closes_soon) body["minutes_left"] = n.minutes_left;
  return json::serialize(body);
}

notification_plan plan_notifications(const std::vector<v1::Event>& events, const notification_settings& s) {
  notification_plan plan;
  const bool sending = !s.channels().empty();
  for (const auto& e : events) {
    const auto n = notification_of(e);
    if (!n) continue;
    const std::string key = fmt::format("event:{}", e.seq());
    // An extension moves the reminder; a close of any kind drops it. Also with no channel set
    // now: a reminder queued before must not go out for a closed door once one is set again.
    if (n->kind != notice_kind::opened && n->kind != notice_kind::drift_repaired) drop_reminders(plan, n->grant_id);
    if (!sending) continue;
    enqueue(plan, *n, s, key);
    if (auto r = reminder_of(*n, s.remind_before_close_minutes)) enqueue(plan, r->notice, s, fmt::format("reminder:{}", e.seq()), r->due_at);
  }
  return plan;
}

notification_plan plan_notification(const notification& n, const notification_settings& s, const std::string& dedupe_key) {
  notification_plan plan;
  enqueue(plan, n, s, dedupe_key);
  return plan;
}

}  // namespace smsbridge::api
