// The delivery outbox: the oldest pending account is POSTed to sync_url, signed; on success it is
// marked delivered and its PIN removed; on failure it waits with exponential backoff (1 s to 5 min, retry_backoff.hpp)
// and nothing after it is sent first. After 10 failures an item is set aside as failed, for
// /admin/trigger-recovery to put back.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/backend_client.hpp"
#include "api-daemon/database.hpp"
#include "api-daemon/settings_source.hpp"

namespace smsbridge::api {

struct outbox_item {
  std::string id, key, body;  // body: the payload with its PIN opened and its idempotency_key
  int attempts = 0;
};

class outbox_store {
 public:
  virtual ~outbox_store() = default;
  // Claims the next item due, its sealed PIN opened: no other api-daemon on the database gets it
  // until it is delivered, failed, or the claim's lease ends. An item whose PIN cannot be opened
  // (sealed under another HMAC secret) is set aside as failed, never sent without it.
  virtual boost::asio::awaitable<pg::db_result<std::optional<outbox_item>>> next_item() = 0;
  virtual boost::asio::awaitable<pg::db_result<void>> delivered(std::string id) = 0;
  // One more failed attempt: tried again in `retry_in`, or failed for good after `give_up_after` attempts.
  virtual boost::asio::awaitable<pg::db_result<void>> attempt_failed(std::string id, std::string error, int give_up_after,
                                                                     std::chrono::seconds retry_in) = 0;
  // Wipes the PINs of failed items older than `seconds`.
  virtual boost::asio::awaitable<pg::db_result<void>> wipe_pins_older_than(std::uint32_t seconds) = 0;
  // "failing" when an item failed for good, or one has been retried for more than five minutes
  // (the backend is not taking deliveries); else "ok".
  virtual boost::asio::awaitable<pg::db_result<std::string>> sync_state() = 0;
};

class pg_outbox_store final : public outbox_store {
 public:
  pg_outbox_store(database& db, std::string secret) : db_(db), secret_(std::move(secret)) {}
  boost::asio::awaitable<pg::db_result<std::optional<outbox_item>>> next_item() override;
  boost::asio::awaitable<pg::db_result<void>> delivered(std::string id) override;
  boost::asio::awaitable<pg::db_result<void>> attempt_failed(std::string id, std::string error, int give_up_after,
                                                             std::chrono::seconds retry_in) override;
  boost::asio::awaitable<pg::db_result<void>> wipe_pins_older_than(std::uint32_t seconds) override;
  boost::asio::awaitable<pg::db_result<std::string>> sync_state() override;

 private:
  database& db_;
  std::string secret_;
};

class outbox_delivery {
 public:
  outbox_delivery(outbox_store& store, backend& to_backend, settings_source& settings)
      : store_(store), backend_(to_backend), settings_(settings) {}

  // Sends the next due item, if there is one and sync_url is set. True when one was delivered.
  boost::asio::awaitable<bool> deliver_one();

  // deliver_one forever: straight on after a success, otherwise a second later.
  boost::asio::awaitable<void> run();

  static constexpr int give_up_after = 10;
  static constexpr std::chrono::seconds longest_backoff{300};
  // One delivery, from name lookup to the backend's answer: a stalled backend costs this, then
  // the item waits its backoff and the worker goes on.
  static constexpr std::chrono::seconds delivery_timeout{10};
  // How long a claimed item stays ours: the delivery's timeout and room for recording its outcome.
  // After a crash, the item goes out again this long after it was claimed.
  static constexpr std::chrono::seconds claim_lease{delivery_timeout + std::chrono::seconds(20)};

 private:
  outbox_store& store_;
  api::backend& backend_;
  settings_source& settings_;
};

// Wipes the PINs of failed items older than `retention_seconds`, forever, checking a tenth of
// that period apart (at least every second, at most every hour).
boost::asio::awaitable<void> wipe_stale_pins(outbox_store& store, std::uint32_t retention_seconds);

}  // namespace smsbridge::api
