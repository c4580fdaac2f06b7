// Notifications without I/O: settings.notifications of SETTINGS_FILE, the closed set of events,
// the helper's events turned into notifications (a sentence, a title, a JSON body), and the plan of
// outbox rows a batch of events adds (reminders scheduled, rescheduled and dropped). The outbox
// (notification_outbox.hpp) stores and delivers what this decides.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "common/result.hpp"
#include "firewall.pb.h"

namespace smsbridge::api {

// What a notification is about. `test` is sent only on an admin's request, whatever `events` says.
enum class notice_kind { opened, extended, closed, expired, expired_while_down, drift_repaired, drift_closed, close_failed, closes_soon, test };

// "opened", "extended", ..., "closes_soon", "test": the names in settings.notifications.events and
// in the webhook's "event".
std::string_view name_of(notice_kind kind);
std::optional<notice_kind> notice_kind_named(std::string_view name);
// Every kind an admin can choose (all but test), in the order above.
const std::vector<notice_kind>& selectable_notice_kinds();

struct notification_settings {
  std::string webhook_url;     // https:// (or http://, explicitly); empty: no webhook
  std::string webhook_secret;  // signs the webhook (X-Signature); never shown by GET
  std::string ntfy_url;        // an ntfy topic URL; empty: no ntfy
  std::string ca_file;         // trusted for both, besides the system's CAs; empty: the backend's CA file
  std::int64_t remind_before_close_minutes = 0;  // 0: no reminders
  std::set<notice_kind> events{selectable_notice_kinds().begin(), selectable_notice_kinds().end()};

  bool wants(notice_kind kind) const { return kind == notice_kind::test || events.contains(kind); }
  // "webhook" and/or "ntfy": the channels with a URL.
  std::vector<std::string> channels() const;
};

constexpr std::int64_t longest_reminder_minutes = 24 * 60;

// settings.notifications of the whole settings file's text; missing means the defaults (nothing is
// sent). One sentence per mistake, naming the field.
fallible<notification_settings> parse_notification_settings(std::string_view json_text);
// The same from the section itself (nullptr: the defaults).
fallible<notification_settings> notification_settings_of(const boost::json::value* section);
// Reads the file like load_sms_settings: missing means defaults; unreadable is an error.
fallible<notification_settings> load_notification_settings(const std::string& path);

// The section as written to the file (with the secret).
boost::json::object notification_settings_file_json(const notification_settings& s);
// The section as GET /admin/notifications shows it: the secret replaced by webhook_secret_set.
boost::json::object notification_settings_public_json(const notification_settings& s);
// An admin's change applied to `current`: only the fields given change; webhook_secret absent keeps
// the secret, "" removes it. Fails with a sentence naming the field (unknown fields too).
fallible<notification_settings> changed_notification_settings(const notification_settings& current, const boost::json::object& change);

struct notification {
  notice_kind kind = notice_kind::test;
  std::string service;
  std::uint32_t port = 0;
  std::string source, actor, reason, detail, grant_id;
  std::string expires_at, previous_expires_at, at;  // RFC 3339 UTC, empty when not known
  std::int64_t minutes_left = 0;                    // closes_soon
  std::string title, sentence;
};

// The notification a helper event makes; nullopt for those that notify no one (STATE_CORRUPT, and
// events without a kind). SHUTDOWN_CLOSED is a close (by the system, on the helper's shutdown).
std::optional<notification> notification_of(const firewall::v1::Event& event);
// The api's own close that the helper did not carry out: close-port's service, or "" for close-all.
notification close_failed_notification(std::string service, std::string actor, std::string why, std::string at);
notification test_notification(std::string actor, std::string at);
// "Door ssh (port 2222) closes in 10 minutes" for the door of an opened or extended notification,
// due `minutes` before its deadline; nullopt when that moment is not after the event itself (a
// door shorter than the reminder gets none).
struct reminder {
  notification notice;
  std::string due_at;  // RFC 3339 UTC
};
std::optional<reminder> reminder_of(const notification& opened_or_extended, std::int64_t minutes);

// The webhook's JSON body: {event, service, port, source, actor, reason, expires_at,
// previous_expires_at, at, title, message (the sentence), detail}; empty values are null.
std::string notification_body(const notification& n);

// One change to the notification outbox, applied in order in the transaction that records the
// events (or alone, for close_failed and test).
struct outbox_op {
  enum class action { enqueue, drop_reminders } what = action::enqueue;
  std::string channel;     // enqueue: "webhook" or "ntfy"
  std::string kind;        // enqueue: name_of(notice kind)
  std::string dedupe_key;  // enqueue: the same event never queues twice (a drain retried after a lost ack)
  std::string payload;     // enqueue: notification_body
  std::string grant_id;    // the door's grant (reminders are dropped by it)
  std::string due_at;      // enqueue: empty for now; a reminder's moment otherwise
};
using notification_plan = std::vector<outbox_op>;

// The rows a batch of helper events adds under `settings`: one per wanted event and channel, a
// reminder per channel after each open and extension (the earlier reminder of that door dropped
// first), and every pending reminder of a door dropped when it closes.
notification_plan plan_notifications(const std::vector<firewall::v1::Event>& events, const notification_settings& settings);
// The rows one notification adds (close_failed, test): none when not wanted or no channel is set.
notification_plan plan_notification(const notification& n, const notification_settings& settings, const std::string& dedupe_key);

}  // namespace smsbridge::api
