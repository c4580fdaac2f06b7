// The notification outbox: rows queued in PostgreSQL (with the audit event that caused them, or
// alone), claimed FOR UPDATE SKIP LOCKED by one worker per channel, POSTed with a per-attempt
// deadline, retried with the outbox's bounded backoff, and kept bounded. Off the request path: a
// slow or dead receiver delays only its own channel's worker, never a door.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/backend_client.hpp"
#include "api-daemon/database.hpp"
#include "api-daemon/metrics.hpp"
#include "api-daemon/notifications.hpp"
#include "api-daemon/settings_source.hpp"

namespace smsbridge::api {

// Applies a plan on `c`, inside the caller's transaction: each enqueue at most once (dedupe_key),
// none while `pending_cap` rows already wait. How many rows the cap turned away.
pg::db_result<std::int64_t> apply_notification_plan(pg::connection& c, const notification_plan& plan);

constexpr std::int64_t notification_pending_cap = 10000;  // rows waiting; beyond, new ones are dropped (and logged)
constexpr std::int64_t notification_finished_kept = 1000;  // delivered or failed rows kept for operators

struct notification_row {
  std::int64_t id = 0;
  std::string key;      // the Idempotency-Key
  std::string payload;  // notification_body
  int attempts = 0;
};

class notification_store {
 public:
  virtual ~notification_store() = default;
  // The plan in a transaction of its own; how many rows the cap turned away.
  virtual boost::asio::awaitable<pg::db_result<std::int64_t>> enqueue(notification_plan plan) = 0;
  // Up to `limit` due rows of `channel` in order, leased for `lease` (another worker, here or in
  // another api, skips them). A row behind one of its channel that failed and waits is not due:
  // a receiver gets its channel's notifications in order.
  virtual boost::asio::awaitable<pg::db_result<std::vector<notification_row>>> claim(std::string channel, int limit,
                                                                                     std::chrono::seconds lease) = 0;
  virtual boost::asio::awaitable<pg::db_result<void>> delivered(std::int64_t id) = 0;
  // One more failed attempt: due again in `retry_in`, or failed for good after `give_up_after`.
  virtual boost::asio::awaitable<pg::db_result<void>> attempt_failed(std::int64_t id, std::string error, int give_up_after,
                                                                     std::chrono::seconds retry_in) = 0;
  // Claimed rows not tried: due now again, their attempts unchanged.
  virtual boost::asio::awaitable<pg::db_result<void>> release(std::vector<std::int64_t> ids) = 0;
  // Drops finished rows beyond the newest notification_finished_kept; how many rows are pending.
  virtual boost::asio::awaitable<pg::db_result<std::int64_t>> trim_and_count() = 0;
};

class pg_notification_store final : public notification_store {
 public:
  explicit pg_notification_store(database& db) : db_(db) {}
  boost::asio::awaitable<pg::db_result<std::int64_t>> enqueue(notification_plan plan) override;
  boost::asio::awaitable<pg::db_result<std::vector<notification_row>>> claim(std::string channel, int limit,
                                                                             std::chrono::seconds lease) override;
  boost::asio::awaitable<pg::db_result<void>> delivered(std::int64_t id) override;
  boost::asio::awaitable<pg::db_result<void>> attempt_failed(std::int64_t id, std::string error, int give_up_after,
                                                             std::chrono::seconds retry_in) override;
  boost::asio::awaitable<pg::db_result<void>> release(std::vector<std::int64_t> ids) override;
  boost::asio::awaitable<pg::db_result<std::int64_t>> trim_and_count() override;

 private:
  database& db_;
};

// One POST of a row to its channel. https_notification_sender is the real one; tests use a fake.
class notification_sender {
 public:
  virtual ~notification_sender() = default;
  // Parameters by value: the coroutine outlives its caller's temporaries.
  virtual boost::asio::awaitable<fallible<backend_answer>> send(std::string channel, notification_row row, notification_settings settings,
                                                                std::chrono::milliseconds timeout) = 0;
};

// The webhook: the JSON body signed with webhook_secret (X-Timestamp, X-Signature, as the backend
// delivery) and its Idempotency-Key. ntfy: the sentence as text/plain with a Title header. Trusts
// settings.ca_file, else `default_ca_file` (the backend's), besides the system's CAs.
class https_notification_sender final : public notification_sender {
 public:
  explicit https_notification_sender(std::string default_ca_file) : default_ca_file_(std::move(default_ca_file)) {}
  boost::asio::awaitable<fallible<backend_answer>> send(std::string channel, notification_row row, notification_settings settings,
                                                        std::chrono::milliseconds timeout) override;

 private:
  std::string default_ca_file_;
};

// The ntfy request of a row: its sentence as the body, its title in Title.
outgoing_post ntfy_request(const notification_row& row);

class notification_delivery {
 public:
  notification_delivery(notification_store& store, notification_sender& sender, settings_source& settings, metrics& stats)
      : store_(store), sender_(sender), settings_(settings), stats_(stats) {}

  // One batch of `channel`: each claimed row sent in order until one fails (that one waits its
  // backoff, the rest are released). A channel without a URL fails its rows for good. How many
  // were delivered.
  boost::asio::awaitable<int> deliver_batch(std::string channel);

  // deliver_batch forever: straight on after a full batch, otherwise a second later. Also keeps
  // the outbox depth gauge current.
  boost::asio::awaitable<void> run(std::string channel);

  static constexpr int batch_size = 10;
  static constexpr int give_up_after = 20;  // about 15 minutes of retries
  static constexpr std::chrono::seconds longest_backoff{30};
  static constexpr std::chrono::seconds attempt_timeout{5};
  // A claimed batch is leased for longer than it can take to send.
  static constexpr std::chrono::seconds lease{batch_size * attempt_timeout.count() + 10};

 private:
  notification_store& store_;
  notification_sender& sender_;
  settings_source& settings_;
  metrics& stats_;
};

}  // namespace smsbridge::api

namespace smsbridge::api {

// Queues one notification (close_failed, test) under the current settings, in a transaction of its
// own. False when it could not be queued (logged here: the caller's answer does not depend on it).
boost::asio::awaitable<bool> queue_notification(notification_store& store, settings_source& settings, notification n,
                                                std::string dedupe_key);

}  // namespace smsbridge::api
