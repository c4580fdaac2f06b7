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
  if (auto r = c.exec("BEGIN"); !r) return r.error();
  auto rollback = [&](pg::db_error e) -> pg::db_result<void> {
    (void)c.exec("ROLLBACK");
    return e;
  };
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
    if (!r) return rollback(r.error());
  }
  if (auto r = c.exec("COMMIT"); !r) return rollback(r.error());
  return {};
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

}  // namespace smsbridge::api
