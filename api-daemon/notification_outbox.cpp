// The notification outbox in PostgreSQL and its delivery workers.
#include "api-daemon/notification_outbox.hpp"

#include <algorithm>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

#include "api-daemon/retry_backoff.hpp"
#include "common/log.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;

pg::db_result<void> no_rows(pg::db_result<pg::rows> r) {
  if (!r) return r.error();
  return {};
}

std::int64_t whole(const pg::rows& r, int row, int column) { return std::stoll(std::string(r.get(row, column).value_or("0"))); }

std::string text_of(const std::string& payload, const char* key) {
  boost::system::error_code ec;
  const json::value v = json::parse(payload, ec);
  if (ec || !v.is_object()) return {};
  const auto* field = v.as_object().if_contains(key);
  return field && field->is_string() ? std::string(field->as_string()) : std::string{};
}
}  // namespace

pg::db_result<std::int64_t> apply_notification_plan(pg::connection& c, const notification_plan& plan) {
  if (plan.empty()) return std::int64_t{0};
  auto counted = c.exec("SELECT count(*) FROM notification_outbox WHERE status = 'pending'");
  if (!counted) return counted.error();
  std::int64_t pending = whole(*counted, 0, 0), turned_away = 0;
  for (const auto& op : plan) {
    pg::db_result<pg::rows> r = pg::rows{};
    if (op.what == outbox_op::action::drop_reminders) {
      r = c.exec("DELETE FROM notification_outbox WHERE status = 'pending' AND kind = 'closes_soon' AND grant_id = $1", {op.grant_id});
    } else if (pending >= notification_pending_cap) {
      ++turned_away;
      continue;
    } else {
      r = c.exec("INSERT INTO notification_outbox (dedupe_key, channel, kind, grant_id, payload, next_attempt_at) "
                 "VALUES ($1, $2, $3, NULLIF($4, ''), $5::jsonb, COALESCE(NULLIF($6, '')::timestamptz, now())) "
                 "ON CONFLICT (dedupe_key) DO NOTHING",
                 {op.dedupe_key, op.channel, op.kind, op.grant_id, op.payload, op.due_at});
      ++pending;
    }
    if (!r) return r.error();
  }
  return turned_away;
}

boost::asio::awaitable<pg::db_result<std::int64_t>> pg_notification_store::enqueue(notification_plan plan) {
  auto step = db_.call([plan = std::move(plan)](pg::connection& c) -> pg::db_result<std::int64_t> {
    auto tx = pg::transaction::begin(c);
    if (!tx) return tx.error();
    auto applied = apply_notification_plan(c, plan);
    if (!applied) return applied.error();
    if (auto committed = tx->commit(); !committed) return committed.error();
    return applied;
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<std::vector<notification_row>>> pg_notification_store::claim(std::string channel, int limit,
                                                                                                  std::chrono::seconds lease) {
  auto step = db_.call([channel = std::move(channel), limit, lease](pg::connection& c) -> pg::db_result<std::vector<notification_row>> {
    // SKIP LOCKED: two workers (two api instances on one database) never claim the same row; the
    // lease keeps it theirs until it is delivered, failed or released.
    auto r = c.exec("UPDATE notification_outbox SET next_attempt_at = now() + make_interval(secs => $3::int) WHERE id IN ("
                    "SELECT n.id FROM notification_outbox n WHERE n.status = 'pending' AND n.channel = $1 AND n.next_attempt_at <= now() "
                    "AND NOT EXISTS (SELECT 1 FROM notification_outbox o WHERE o.status = 'pending' AND o.channel = n.channel "
                    "AND o.id < n.id AND o.attempts > 0 AND o.next_attempt_at > now()) "
                    "ORDER BY n.id LIMIT $2::int FOR UPDATE SKIP LOCKED) "
                    "RETURNING id, idempotency_key, payload::text, attempts",
                    {channel, std::to_string(limit), std::to_string(lease.count())});
    if (!r) return r.error();
    std::vector<notification_row> rows;
    for (int i = 0; i < r->count(); ++i) {
      rows.push_back({whole(*r, i, 0), std::string(r->get(i, 1).value_or("")), std::string(r->get(i, 2).value_or("{}")),
                      static_cast<int>(whole(*r, i, 3))});
    }
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return rows;
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<void>> pg_notification_store::delivered(std::int64_t id) {
  auto step = db_.call([id](pg::connection& c) {
    return no_rows(c.exec("UPDATE notification_outbox SET status = 'delivered', delivered_at = now(), attempts = attempts + 1, "
                          "last_error = NULL WHERE id = $1::bigint",
                          {std::to_string(id)}));
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<void>> pg_notification_store::attempt_failed(std::int64_t id, std::string error, int give_up_after,
                                                                                  std::chrono::seconds retry_in) {
  auto step = db_.call([id, error = std::move(error), give_up_after, retry_in](pg::connection& c) {
    return no_rows(c.exec("UPDATE notification_outbox SET attempts = attempts + 1, last_error = $2, "
                          "status = CASE WHEN attempts + 1 >= $3::int THEN 'failed' ELSE 'pending' END, "
                          "next_attempt_at = now() + make_interval(secs => $4::int) WHERE id = $1::bigint",
                          {std::to_string(id), error, std::to_string(give_up_after), std::to_string(retry_in.count())}));
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<void>> pg_notification_store::release(std::vector<std::int64_t> ids) {
  auto step = db_.call([ids = std::move(ids)](pg::connection& c) -> pg::db_result<void> {
    std::string array = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i) array += ',';
      array += std::to_string(ids[i]);
    }
    array += '}';
    return no_rows(c.exec("UPDATE notification_outbox SET next_attempt_at = now() WHERE id = ANY($1::bigint[]) AND status = 'pending'",
                          {array}));
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<std::int64_t>> pg_notification_store::trim_and_count() {
  auto step = db_.call([](pg::connection& c) -> pg::db_result<std::int64_t> {
    auto trimmed = c.exec("DELETE FROM notification_outbox WHERE status <> 'pending' AND id <= (SELECT id FROM notification_outbox "
                          "WHERE status <> 'pending' ORDER BY id DESC OFFSET $1::int LIMIT 1)",
                          {std::to_string(notification_finished_kept)});
    if (!trimmed) return trimmed.error();
    auto r = c.exec("SELECT count(*) FROM notification_outbox WHERE status = 'pending'");
    if (!r) return r.error();
    return whole(*r, 0, 0);
  });
  co_return co_await std::move(step);
}

outgoing_post ntfy_request(const notification_row& row) {
  outgoing_post out;
  out.receiver = "ntfy";
  out.content_type = "text/plain; charset=utf-8";
  out.headers = {{"Title", text_of(row.payload, "title")}, {"Idempotency-Key", row.key}};
  out.body = text_of(row.payload, "message");
  return out;
}

boost::asio::awaitable<fallible<backend_answer>> https_notification_sender::send(std::string channel, notification_row row,
                                                                                  notification_settings settings,
                                                                                  std::chrono::milliseconds timeout) {
  const std::string ca_file = settings.ca_file.empty() ? default_ca_file_ : settings.ca_file;
  if (channel == "webhook") {
    auto posting = post_to(settings.webhook_url, signed_json("the webhook", row.payload, settings.webhook_secret, row.key), ca_file, timeout);
    co_return co_await std::move(posting);
  }
  auto posting = post_to(settings.ntfy_url, ntfy_request(row), ca_file, timeout);
  co_return co_await std::move(posting);
}

boost::asio::awaitable<int> notification_delivery::deliver_batch(std::string channel) {
  auto settings = settings_.notifications();
  if (!settings) co_return 0;  // reported by the requests that read the file, and on SIGHUP
  auto claiming = store_.claim(channel, batch_size, lease);
  const auto rows = co_await std::move(claiming);
  if (!rows || rows->empty()) co_return 0;
  const auto wanted = settings->channels();
  const bool configured = std::find(wanted.begin(), wanted.end(), channel) != wanted.end();
  int delivered = 0;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    const notification_row& row = (*rows)[i];
    if (!configured) {
      auto failing = store_.attempt_failed(row.id, fmt::format("no {} URL is set any more", channel), 0, std::chrono::seconds(0));
      (void)co_await std::move(failing);
      stats_.notification_failed(channel);
      continue;
    }
    auto sending = sender_.send(channel, row, *settings, attempt_timeout);
    const auto sent = co_await std::move(sending);
    if (sent && sent->status >= 200 && sent->status < 300) {
      auto recording = store_.delivered(row.id);
      (void)co_await std::move(recording);
      stats_.notification_sent(channel);
      ++delivered;
      continue;
    }
    const std::string error = sent ? fmt::format("{} answered {}", channel, sent->status) : sent.error().message;
    auto recording = store_.attempt_failed(row.id, error, give_up_after, retry_backoff(row.attempts + 1, longest_backoff));
    (void)co_await std::move(recording);
    stats_.notification_failed(channel);
    log::warning("notification {} to {} failed (attempt {}): {}", row.id, channel, row.attempts + 1, error);
    // The rest wait behind it, in order.
    std::vector<std::int64_t> rest;
    for (std::size_t j = i + 1; j < rows->size(); ++j) rest.push_back((*rows)[j].id);
    if (!rest.empty()) {
      auto releasing = store_.release(std::move(rest));
      (void)co_await std::move(releasing);
    }
    break;
  }
  co_return delivered;
}

boost::asio::awaitable<void> notification_delivery::run(std::string channel) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    auto delivering = deliver_batch(channel);
    const int delivered = co_await std::move(delivering);
    auto counting = store_.trim_and_count();
    if (const auto depth = co_await std::move(counting)) stats_.set_notification_outbox_depth(static_cast<double>(*depth));
    if (delivered == batch_size) continue;
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

}  // namespace smsbridge::api

namespace smsbridge::api {

boost::asio::awaitable<bool> queue_notification(notification_store& store, settings_source& settings, notification n,
                                                std::string dedupe_key) {
  auto wanted = settings.notifications();
  if (!wanted) {
    log::warning("the {} notification is not sent: {}", name_of(n.kind), wanted.error().message);
    co_return false;
  }
  auto plan = plan_notification(n, *wanted, dedupe_key);
  if (plan.empty()) co_return true;
  auto queuing = store.enqueue(std::move(plan));
  const auto queued = co_await std::move(queuing);
  if (!queued || *queued > 0) {
    log::warning("the {} notification is not queued: {}", name_of(n.kind),
                 queued ? fmt::format("{} are already waiting", notification_pending_cap) : queued.error().message);
    co_return false;
  }
  co_return true;
}

}  // namespace smsbridge::api
