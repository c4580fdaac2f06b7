#include "api-daemon/retention.hpp"

#include <chrono>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "common/log.hpp"

namespace smsbridge::api {

namespace {
// One statement per table, each its own transaction; the count check's window (at most 30 days)
// is shorter than the shortest retention (31 days), so no check loses the rows it counts.
constexpr const char* statements[] = {
    "DELETE FROM sms_bridge_logs WHERE at < now() - make_interval(days => $1::int)",
    // The trigger lets retention (and only it, and only old rows) delete from the login trail.
    "DELETE FROM admin_auth_events WHERE at < now() - make_interval(days => $1::int) "
    "AND (SELECT set_config('sms_bridge.retention', 'on', true)) = 'on'",
    "DELETE FROM onboarding_codes WHERE generated_at < now() - make_interval(days => $1::int) "
    "AND (consumed_at IS NOT NULL OR expires_at < now())",
    "DELETE FROM sync_outbox WHERE status = 'delivered' AND delivered_at < now() - make_interval(days => $1::int)",
};
}  // namespace

boost::asio::awaitable<void> apply_retention(database& db, std::uint32_t retention_days) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  const std::string days = std::to_string(retention_days);
  for (;;) {
    for (const char* sql : statements) {
      auto step = db.call([sql, days](pg::connection& c) -> pg::db_result<void> {
        auto r = c.exec(sql, {days});
        if (!r) return r.error();
        return {};
      });
      if (auto done = co_await std::move(step); !done) log::warning("retention: {}", done.error().message);
    }
    timer.expires_after(std::chrono::hours(1));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

}  // namespace smsbridge::api
