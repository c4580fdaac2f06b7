#include "api-daemon/outbox.hpp"

#include <algorithm>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

#include "api-daemon/crypto.hpp"
#include "api-daemon/retry_backoff.hpp"
#include "common/log.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;

pg::db_result<std::optional<outbox_item>> next_due(pg::connection& c, const std::string& secret, std::chrono::seconds lease) {
  // Claims the oldest pending item, if it is due, by moving its next attempt past the lease: the
  // items go out in order, one at a time, across every api-daemon on this database. Two daemons
  // that pick the same head both try to update its row; the second waits for the first's commit,
  // sees the moved next_attempt_at when PostgreSQL checks the WHERE again, and claims nothing. A
  // daemon that dies holding the claim loses it when the lease ends (the item goes out again,
  // with the same idempotency key).
  auto r = c.exec("UPDATE sync_outbox SET next_attempt_at = now() + make_interval(secs => $1::int) "
                  "WHERE id = (SELECT min(id) FROM sync_outbox WHERE status = 'pending') "
                  "AND status = 'pending' AND next_attempt_at <= now() "
                  "RETURNING id, idempotency_key, payload::text, pin, attempts",
                  {std::to_string(lease.count())});
  if (!r) return r.error();
  if (r->count() == 0) return std::optional<outbox_item>{};
  boost::system::error_code ec;
  json::value payload = json::parse(*r->get(0, 2), ec);
  if (ec || !payload.is_object()) payload = json::object{};
  if (auto pin = r->get(0, 3)) {
    auto opened = open_secret(secret, *pin);
    const bool legacy = !opened && pin->size() >= 4 && pin->size() <= 8 &&
                        std::all_of(pin->begin(), pin->end(), [](char ch) { return ch >= '0' && ch <= '9'; });  // queued before 007
    if (!opened && !legacy) {
      auto set_aside = c.exec("UPDATE sync_outbox SET status = 'failed', last_error = $2 WHERE id = $1::bigint",
                              {std::string(*r->get(0, 0)), "its PIN cannot be opened with the current HMAC secret"});
      if (!set_aside) return set_aside.error();
      return std::optional<outbox_item>{};
    }
    payload.as_object()["pin"] = opened ? *opened : std::string(*pin);
  }
  payload.as_object()["idempotency_key"] = std::string(*r->get(0, 1));
  return std::optional<outbox_item>{outbox_item{std::string(*r->get(0, 0)), std::string(*r->get(0, 1)), json::serialize(payload),
                                                std::stoi(std::string(*r->get(0, 4)))}};
}

pg::db_result<void> no_rows(pg::db_result<pg::rows> r) {
  if (!r) return r.error();
  return {};
}
}  // namespace

boost::asio::awaitable<pg::db_result<std::optional<outbox_item>>> pg_outbox_store::next_item() {
  auto step = db_.call([this](pg::connection& c) { return next_due(c, secret_, outbox_delivery::claim_lease); });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<void>> pg_outbox_store::delivered(std::string id) {
  auto step = db_.call([id = std::move(id)](pg::connection& c) {
    return no_rows(c.exec("UPDATE sync_outbox SET status = 'delivered', pin = NULL, delivered_at = now(), attempts = attempts + 1, "
                          "last_error = NULL WHERE id = $1::bigint AND status = 'pending'",
                          {id}));
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<void>> pg_outbox_store::attempt_failed(std::string id, std::string error, int give_up_after,
                                                                          std::chrono::seconds retry_in) {
  auto step = db_.call([id = std::move(id), error = std::move(error), give_up_after, retry_in](pg::connection& c) {
    return no_rows(c.exec("UPDATE sync_outbox SET attempts = attempts + 1, last_error = $2, "
                          "status = CASE WHEN attempts + 1 >= $3::int THEN 'failed' ELSE 'pending' END, "
                          "next_attempt_at = now() + make_interval(secs => $4::int) "
                          "WHERE id = $1::bigint AND status = 'pending'",  // one set aside meanwhile stays so
                          {id, error, std::to_string(give_up_after), std::to_string(retry_in.count())}));
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<void>> pg_outbox_store::wipe_pins_older_than(std::uint32_t seconds) {
  auto step = db_.call([retention = std::to_string(seconds)](pg::connection& c) {
    // Delivered items lost their PIN on delivery; failed ones keep it only as long as a
    // trigger-recovery may still want it.
    return no_rows(c.exec("UPDATE sync_outbox SET pin = NULL, last_error = coalesce(last_error || '; ', '') || 'PIN wiped after retention' "
                          "WHERE status = 'failed' AND pin IS NOT NULL AND created_at < now() - make_interval(secs => $1::int)",
                          {retention}));
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<std::string>> pg_outbox_store::sync_state() {
  auto step = db_.call([](pg::connection& c) -> pg::db_result<std::string> {
    auto r = c.exec("SELECT CASE WHEN EXISTS (SELECT 1 FROM sync_outbox WHERE status = 'failed') "
                    "OR EXISTS (SELECT 1 FROM sync_outbox WHERE status = 'pending' AND attempts > 0 "
                    "AND created_at < now() - interval '5 minutes') THEN 'failing' ELSE 'ok' END");
    if (!r) return r.error();
    return std::string(r->get(0, 0).value_or("ok"));
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<bool> outbox_delivery::deliver_one() {
  auto settings = settings_.sms();
  if (!settings || settings->sync_url.empty()) co_return false;
  auto fetching = store_.next_item();
  auto item = co_await std::move(fetching);
  if (!item || !*item) co_return false;
  const outbox_item it = **item;
  auto sending = backend_.post(settings->sync_url, it.body, it.key, delivery_timeout);
  auto sent = co_await std::move(sending);
  const bool accepted = sent && sent->status >= 200 && sent->status < 300;
  if (accepted) {
    auto recording = store_.delivered(it.id);
    (void)co_await std::move(recording);
    co_return true;
  }
  const std::string error = sent ? fmt::format("the backend answered {}", sent->status) : sent.error().message;
  auto recording = store_.attempt_failed(it.id, error, give_up_after, retry_backoff(it.attempts + 1, longest_backoff));
  (void)co_await std::move(recording);
  log::warning("delivery of outbox item {} failed (attempt {}): {}", it.id, it.attempts + 1, error);
  co_return false;
}

boost::asio::awaitable<void> outbox_delivery::run() {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    auto delivering = deliver_one();
    if (co_await std::move(delivering)) continue;
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

boost::asio::awaitable<void> wipe_stale_pins(outbox_store& store, std::uint32_t retention_seconds) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  const auto period = std::chrono::seconds(std::clamp<std::uint32_t>(retention_seconds / 10, 1, 3600));
  for (;;) {
    auto wiping = store.wipe_pins_older_than(retention_seconds);
    if (auto done = co_await std::move(wiping); !done) log::warning("wiping stale outbox PINs: {}", done.error().message);
    timer.expires_after(period);
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

}  // namespace smsbridge::api
