// The audit outbox: the helper's event journal drained into PostgreSQL, acknowledged only after
// the transaction that recorded it committed, so nothing is lost and nothing is recorded twice.
#include <cctype>
#include <charconv>

#include <fmt/format.h>
#include <google/protobuf/util/time_util.h>

#include "api-daemon/app.hpp"

namespace smsbridge::api {

namespace {
namespace v1 = firewall::v1;
using google::protobuf::util::TimeUtil;

constexpr std::uint32_t batch_size = 200;

std::optional<std::string> internal_port(const std::string& target) {
  const auto colon = target.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  return target.substr(colon + 1);
}

// Records one batch in one transaction. Each event is recorded at most once (helper_seq).
pg::db_result<void> record(pg::connection& c, const std::vector<v1::Event>& events) {
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
        r = c.exec("SELECT record_port_opened($1, $2::int, $3::int, $4, $5::int, NULL, NULL, $6, $7::bigint, $8::timestamptz, "
                   "$9::timestamptz, $10)",
                   {g.service(), std::to_string(g.external_port()), internal_port(g.target()), g.opened_by(),
                    std::to_string((seconds + 59) / 60), g.grant_id(), seq, TimeUtil::ToString(g.opened_at()),
                    TimeUtil::ToString(g.expires_at()), g.source()});
        break;
      }
      case v1::CLOSED:
      case v1::EXPIRED:
      case v1::EXPIRED_WHILE_DOWN:
      case v1::SHUTDOWN_CLOSED: {
        const bool automatic = e.kind() != v1::CLOSED;
        const std::string reason = e.reason().empty() ? v1::EventKind_Name(e.kind()) : e.reason();
        r = c.exec("SELECT record_port_closed($1, $2::int, $3, $4::boolean, $5, $6, $7::bigint, $8::timestamptz)",
                   {g.service(), std::to_string(g.external_port()), e.actor().empty() ? std::string("system") : e.actor(),
                    automatic ? "true" : "false", reason, g.grant_id(), seq, at});
        break;
      }
      default:
        // Drift and corruption reports: kept as incidents for operators.
        r = c.exec("INSERT INTO firewall_incidents (helper_seq, kind, at, detail, service, external_port, source) "
                   "VALUES ($1::bigint, $2, $3::timestamptz, $4, NULLIF($5, ''), NULLIF($6, '0')::int, NULLIF($7, '')) "
                   "ON CONFLICT (helper_seq) DO NOTHING",
                   {seq, v1::EventKind_Name(e.kind()), at, e.detail(), g.service(), std::to_string(g.external_port()),
                    g.source()});
        break;
    }
    if (!r) return r.error();
  }
  // Acknowledged to the helper only after this: a COMMIT that rolled back is a failure here.
  return tx->commit();
}
}  // namespace

boost::asio::awaitable<void> drain_audit(app& a) {
  if (a.draining) {
    a.drain_again = true;  // the running drain will go round once more
    co_return;
  }
  a.draining = true;
  do {
    a.drain_again = false;
    for (;;) {
      v1::Request ask;
      ask.mutable_events()->set_max(batch_size);
      auto ask_step = call_helper(a, ask);
      auto answer = co_await std::move(ask_step);
      if (!answer || answer->has_error() || answer->events().events().empty()) break;
      std::vector<v1::Event> events(answer->events().events().begin(), answer->events().events().end());
      auto write = [events](pg::connection& c) { return record(c, events); };
      auto write_step = a.db.call(std::move(write));
      auto written = co_await std::move(write_step);
      if (!written) {
        // Not acknowledged: the helper keeps the events and the next drain retries them.
        a.report(fmt::format("audit: cannot record {} helper event(s) yet: {}", events.size(), written.error().message));
        break;
      }
      for (const auto& e : events) {
        if (!e.grant().service().empty() && e.kind() >= v1::OPENED && e.kind() <= v1::SHUTDOWN_CLOSED) {
          std::string kind = v1::EventKind_Name(e.kind());
          for (auto& ch : kind) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          a.stats.door_event(e.grant().service(), kind);
        }
      }
      v1::Request ack;
      ack.mutable_ack()->set_seq(events.back().seq());
      auto ack_step = call_helper(a, ack);
      auto acked = co_await std::move(ack_step);
      if (!acked || acked->has_error()) break;
      if (events.size() < batch_size) break;
    }
  } while (a.drain_again);
  a.draining = false;
}

boost::asio::awaitable<void> reconcile_audit(app& a) {
  // First record whatever the helper still holds, so a live door is never mistaken for an orphan.
  auto drain = drain_audit(a);
  co_await std::move(drain);
  v1::Request status;
  status.mutable_status();
  auto status_step = call_helper(a, status);
  const auto helper = co_await std::move(status_step);
  if (!helper || helper->has_error() || helper->status().pending_events() > 0) co_return;  // not now
  std::vector<std::string> live;
  std::string after;
  for (int page = 0; page < 1000; ++page) {
    v1::Request list;
    list.mutable_list()->set_after_service(after);
    auto list_step = call_helper(a, list);
    const auto doors = co_await std::move(list_step);
    if (!doors || doors->has_error()) co_return;
    for (const auto& g : doors->list().grants()) live.push_back(g.grant_id());
    after = doors->list().next_after_service();
    if (after.empty()) break;
  }
  // Audit rows that say "open" for a grant the helper does not hold: closed in the trail, as the
  // seed's "sync port mappings to database" did, but recorded as a close row with its reason.
  auto close_orphans = [live](pg::connection& c) -> pg::db_result<int> {
    // Appended piece by piece: g++ 12 at -O3 reports a false -Wrestrict for chained operator+.
    std::string array = "{";
    for (std::size_t i = 0; i < live.size(); ++i) {
      if (i) array += ',';
      array += '"';
      array += live[i];
      array += '"';
    }
    array += '}';
    auto r = c.exec("SELECT count(record_port_closed(o.service::varchar, o.external_port, 'system-reconcile', true, "
                    "'not open in the firewall helper', o.grant_id, NULL, now())) "
                    "FROM monitoring_port_access o "
                    "WHERE o.action = 'opened' AND NOT (o.grant_id = ANY($1::text[])) "
                    "AND NOT EXISTS (SELECT 1 FROM monitoring_port_access c WHERE c.action <> 'opened' AND c.grant_id = o.grant_id)",
                    {array});
    if (!r) return r.error();
    return std::stoi(std::string(r->get(0, 0).value_or("0")));
  };
  auto step = a.db.call(std::move(close_orphans));
  const auto closed = co_await std::move(step);
  if (!closed) a.report(fmt::format("audit reconcile: {}", closed.error().message));
  else if (*closed > 0) a.report(fmt::format("audit reconcile: closed {} audit row(s) of doors the helper does not hold", *closed));
}

}  // namespace smsbridge::api
