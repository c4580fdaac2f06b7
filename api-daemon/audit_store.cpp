#include "api-daemon/audit_store.hpp"

#include <google/protobuf/util/time_util.h>

#include "api-daemon/notification_outbox.hpp"
#include "common/log.hpp"

namespace smsbridge::api {

namespace {
namespace v1 = firewall::v1;
using google::protobuf::util::TimeUtil;

std::optional<std::string> internal_port(const std::string& target) {
  const auto colon = target.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  return target.substr(colon + 1);
}

// The server's name in the trail: NULL when it has none (a lone server that never named itself).
std::optional<std::string> server_or_null(const std::string& server) {
  return server.empty() ? std::nullopt : std::optional<std::string>(server);
}

pg::db_result<void> record_events(pg::connection& c, const std::string& server_name, const std::vector<v1::Event>& events,
                                  const notification_plan& notifications) {
  const std::optional<std::string> server = server_or_null(server_name);
  auto tx = pg::transaction::begin(c);
  if (!tx) return tx.error();
  for (const auto& e : events) {
    const auto& g = e.grant();
    const std::string seq = std::to_string(e.seq());
    const std::string at = TimeUtil::ToString(e.at());
    pg::db_result<pg::rows> r = pg::rows{};
    switch (e.kind()) {
      case v1::OPENED: {
        const auto seconds = TimeUtil::TimestampToSeconds(g.expires_at()) - TimeUtil::TimestampToSeconds(g.opened_at());
        // The open's reason: the event's (the helper copies it there), else the grant's.
        const std::string& reason = e.reason().empty() ? g.reason() : e.reason();
        r = c.exec("SELECT record_port_opened($1, $2::int, $3::int, $4, $5::int, $12, NULL, $6, $7::bigint, $8::timestamptz, "
                   "$9::timestamptz, $10, $11)",
                   {g.service(), std::to_string(g.external_port()), internal_port(g.target()), g.opened_by(),
                    std::to_string((seconds + 59) / 60), g.grant_id(), seq, TimeUtil::ToString(g.opened_at()),
                    TimeUtil::ToString(g.expires_at()), g.source(), reason, server});
        break;
      }
      case v1::EXTENDED: {
        const std::optional<std::string> previous =
            e.has_previous_expires_at() ? std::optional<std::string>(TimeUtil::ToString(e.previous_expires_at())) : std::nullopt;
        r = c.exec("SELECT record_port_extended($1, $2, $3::timestamptz, $4::timestamptz, $5, $6::bigint, $7::timestamptz, $8)",
                   {g.grant_id(), e.actor().empty() ? std::string("system") : e.actor(), TimeUtil::ToString(g.expires_at()),
                    previous, e.reason(), seq, at, server});
        break;
      }
      case v1::CLOSED:
      case v1::EXPIRED:
      case v1::EXPIRED_WHILE_DOWN:
      case v1::SHUTDOWN_CLOSED: {
        const bool automatic = e.kind() != v1::CLOSED;
        const std::string reason = e.reason().empty() ? v1::EventKind_Name(e.kind()) : e.reason();
        r = c.exec("SELECT record_port_closed($1, $2::int, $3, $4::boolean, $5, $6, $7::bigint, $8::timestamptz, $9)",
                   {g.service(), std::to_string(g.external_port()), e.actor().empty() ? std::string("system") : e.actor(),
                    automatic ? "true" : "false", reason, g.grant_id(), seq, at, server});
        break;
      }
      default:
        // Drift and corruption reports: kept as incidents for operators.
        r = c.exec("INSERT INTO firewall_incidents (helper_seq, kind, at, detail, service, external_port, source, server_ip) "
                   "VALUES ($1::bigint, $2, $3::timestamptz, $4, NULLIF($5, ''), NULLIF($6, '0')::int, NULLIF($7, ''), $8) "
                   "ON CONFLICT ((COALESCE(server_ip, '')), helper_seq) DO NOTHING",
                   {seq, v1::EventKind_Name(e.kind()), at, e.detail(), g.service(), std::to_string(g.external_port()),
                    g.source(), server});
        break;
    }
    if (!r) return r.error();
  }
  auto queued = apply_notification_plan(c, notifications);
  if (!queued) return queued.error();
  if (*queued > 0) {
    log::warning("{} notification(s) were not queued: {} are already waiting for delivery", *queued, notification_pending_cap);
  }
  // Acknowledged to the helper only after this: a COMMIT that rolled back is a failure here.
  return tx->commit();
}

// A text[] literal of `items`, each element quoted and escaped: a grant id is the helper's, but
// a quote in one must not break the statement. Appended piece by piece: g++ 12 at -O3 reports a
// false -Wrestrict for chained operator+.
std::string text_array(const std::vector<std::string>& items) {
  std::string array = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) array += ',';
    array += '"';
    for (const char ch : items[i]) {
      if (ch == '"' || ch == '\\') array += '\\';
      array += ch;
    }
    array += '"';
  }
  array += '}';
  return array;
}

// A "SELECT json_agg(...)" answer as text: "[]" when no row matched.
pg::db_result<std::string> json_cell(pg::db_result<pg::rows> rows) {
  if (!rows) return rows.error();
  return std::string(rows->get(0, 0).value_or("[]"));
}
}  // namespace

boost::asio::awaitable<pg::db_result<void>> pg_audit_store::record(std::string server, std::vector<v1::Event> events,
                                                                  notification_plan notifications) {
  auto step = db_.call([server = std::move(server), events = std::move(events), notifications = std::move(notifications)](pg::connection& c) {
    return record_events(c, server, events, notifications);
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<int>> pg_audit_store::close_orphans(std::string server, std::vector<std::string> live) {
  auto step = db_.call([server = std::move(server), live = std::move(live)](pg::connection& c) -> pg::db_result<int> {
    const std::string array = text_array(live);
    // Audit rows that say "open" for a grant the helper does not hold: closed in the trail, as the
    // seed's "sync port mappings to database" did, but recorded as a close row with its reason.
    // Only this server's rows: another server's doors are its helper's to vouch for. Rows recorded
    // before servers were named only once past their deadline: their server (the one there was
    // then) may still hold them, and its close events find them by grant id. One transaction, so
    // a reminder is never left for a door the trail has closed.
    auto tx = pg::transaction::begin(c);
    if (!tx) return tx.error();
    auto r = c.exec("SELECT o.grant_id, record_port_closed(o.service::varchar, o.external_port, 'system-reconcile', true, "
                    "'not open in the firewall helper', o.grant_id, NULL, now(), $2) "
                    "FROM monitoring_port_access o "
                    "WHERE o.action = 'opened' AND NOT (o.grant_id = ANY($1::text[])) "
                    "AND (o.server_ip = $2 OR (o.server_ip IS NULL AND ($2 IS NULL OR monitoring_door_deadline(o.grant_id, o.expires_at) < now()))) "
                    "AND NOT EXISTS (SELECT 1 FROM monitoring_port_access c WHERE c.action IN ('closed', 'expired') AND c.grant_id = o.grant_id)",
                    {array, server_or_null(server)});
    if (!r) return r.error();
    std::vector<std::string> closed_grants;
    for (int i = 0; i < r->count(); ++i) closed_grants.emplace_back(r->get(i, 0).value_or(""));
    const std::string closed = text_array(closed_grants);
    // Their "closes in N minutes" reminders go too: those doors are gone.
    auto reminders = c.exec("DELETE FROM notification_outbox WHERE status = 'pending' AND kind = 'closes_soon' "
                            "AND grant_id = ANY($1::text[])",
                            {closed});
    if (!reminders) return reminders.error();
    if (auto committed = tx->commit(); !committed) return committed.error();
    return r->count();
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<std::string>> pg_audit_store::history_json(audit_filter f) {
  auto step = db_.call([f](pg::connection& c) {
    // Each door with its open's reason and its extensions, oldest first.
    return json_cell(c.exec("SELECT json_agg(h) FROM (SELECT service, external_port AS port, status, opened_by, opened_at, expires_at, "
                            "closed_at, closed_by, close_reason, requested_duration_minutes, actual_duration_minutes, source, reason, "
                            "COALESCE((SELECT json_agg(json_build_object('at', e.extended_at, 'by', e.extended_by, "
                            "'expires_at', e.expires_at, 'previous_expires_at', e.previous_expires_at, 'reason', e.reason) "
                            "ORDER BY e.id) FROM monitoring_port_access e "
                            "WHERE e.action = 'extended' AND e.grant_id = monitoring_port_access_history.grant_id), '[]'::json) "
                            "AS extensions "
                            "FROM monitoring_port_access_history WHERE $2::text IS NULL OR service = $2 "
                            "ORDER BY opened_at DESC LIMIT $1) h",
                            {std::to_string(f.limit), f.service}));
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<std::string>> pg_audit_store::actions_json(audit_filter f, std::optional<std::string> action) {
  auto step = db_.call([f, action](pg::connection& c) {
    // reason: the open's or the extension's as the admin gave it, the close's reason for a close.
    return json_cell(c.exec("SELECT json_agg(e) FROM (SELECT COALESCE(closed_at, extended_at, opened_at) AS at, service, "
                            "external_port AS port, action, "
                            "CASE action WHEN 'opened' THEN opened_by WHEN 'extended' THEN extended_by ELSE closed_by END AS by, source, "
                            "CASE WHEN action IN ('closed', 'expired') THEN close_reason ELSE reason END AS reason, "
                            "expires_at, previous_expires_at "
                            "FROM monitoring_port_access WHERE ($2::text IS NULL OR service = $2) AND ($3::text IS NULL OR action = $3) "
                            "ORDER BY COALESCE(closed_at, extended_at, opened_at) DESC, id DESC LIMIT $1) e",
                            {std::to_string(f.limit), f.service, action}));
  });
  co_return co_await std::move(step);
}

}  // namespace smsbridge::api
