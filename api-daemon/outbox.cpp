// The delivery outbox: the oldest pending account is POSTed to sync_url, signed; on success it is
// marked delivered and its PIN removed; on failure it waits with exponential backoff (1 s to 5 min)
// and nothing after it is sent first. After 10 failures an item is set aside as failed, for
// /admin/trigger-recovery to put back.
#include <chrono>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

#include "api-daemon/app.hpp"
#include "api-daemon/backend_client.hpp"
#include "api-daemon/sms_rules.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;
constexpr int give_up_after = 10;
// One delivery, from name lookup to the backend's answer: a stalled backend costs this, then the
// item waits its backoff and the worker goes on.
constexpr std::chrono::seconds delivery_timeout{10};

struct outbox_item {
  std::string id, key, body;
  int attempts = 0;
};

pg::db_result<std::optional<outbox_item>> next_item(pg::connection& c) {
  auto r = c.exec("SELECT id, idempotency_key, payload::text, pin, attempts FROM sync_outbox "
                  "WHERE status = 'pending' AND next_attempt_at <= now() "
                  "AND NOT EXISTS (SELECT 1 FROM sync_outbox o WHERE o.status = 'pending' AND o.id < sync_outbox.id) "
                  "ORDER BY id LIMIT 1");
  if (!r) return r.error();
  if (r->count() == 0) return std::optional<outbox_item>{};
  boost::system::error_code ec;
  json::value payload = json::parse(*r->get(0, 2), ec);
  if (ec || !payload.is_object()) payload = json::object{};
  if (auto pin = r->get(0, 3)) payload.as_object()["pin"] = std::string(*pin);
  payload.as_object()["idempotency_key"] = std::string(*r->get(0, 1));
  return std::optional<outbox_item>{outbox_item{std::string(*r->get(0, 0)), std::string(*r->get(0, 1)), json::serialize(payload),
                                                std::stoi(std::string(*r->get(0, 4)))}};
}
}  // namespace

boost::asio::awaitable<void> deliver_outbox(app& a) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    auto settings = load_sms_settings(a.config.settings_file);
    bool delivered_one = false;
    if (settings && !settings->sync_url.empty()) {
      auto fetch = a.db.call([](pg::connection& c) { return next_item(c); });
      auto item = co_await std::move(fetch);
      if (item && *item) {
        const outbox_item it = **item;
        auto sending = post_signed(settings->sync_url, it.body, a.config.hmac_secret, it.key, a.config.backend_ca_file,
                                   delivery_timeout);
        auto sent = co_await std::move(sending);
        const bool accepted = sent && sent->status >= 200 && sent->status < 300;
        const std::string error = accepted ? "" : sent ? fmt::format("the backend answered {}", sent->status) : sent.error().message;
        auto record = [it, accepted, error](pg::connection& c) -> pg::db_result<void> {
          auto r = accepted
                       ? c.exec("UPDATE sync_outbox SET status = 'delivered', pin = NULL, delivered_at = now(), attempts = attempts + 1, "
                                "last_error = NULL WHERE id = $1::bigint",
                                {it.id})
                       : c.exec("UPDATE sync_outbox SET attempts = attempts + 1, last_error = $2, "
                                "status = CASE WHEN attempts + 1 >= $3::int THEN 'failed' ELSE 'pending' END, "
                                "next_attempt_at = now() + make_interval(secs => least(300, power(2, attempts))::int) "
                                "WHERE id = $1::bigint",
                                {it.id, error, std::to_string(give_up_after)});
          if (!r) return r.error();
          return {};
        };
        auto recording = a.db.call(std::move(record));
        (void)co_await std::move(recording);
        if (!accepted) a.report(fmt::format("delivery of outbox item {} failed (attempt {}): {}", it.id, it.attempts + 1, error));
        delivered_one = accepted;
      }
    }
    // Straight on to the next item after a success; otherwise look again in a second.
    if (!delivered_one) {
      timer.expires_after(std::chrono::seconds(1));
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
  }
}

}  // namespace smsbridge::api
