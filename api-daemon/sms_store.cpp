#include "api-daemon/sms_store.hpp"

#include <chrono>
#include <utility>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "api-daemon/crypto.hpp"

namespace smsbridge::api {

namespace {
// The key of per-number counts: an HMAC of the number, so the logs never hold the number itself.
std::string number_key(std::string_view secret, std::string_view mobile) { return to_hex(hmac_sha256(secret, mobile)); }

std::int64_t whole(const pg::rows& r) { return std::stoll(std::string(r.get(0, 0).value_or("0"))); }

std::optional<std::string> text_or_null(const pg::rows& r, int column) {
  auto v = r.get(0, column);
  return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
}

constexpr const char* iso_utc = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'";

// Holds one number's advisory lock for a request's checks and writes. The count checks read what
// earlier requests of the number wrote, then write their own row: without the lock, two requests
// of one number at once (on two connections, or on two api-daemons sharing the database) both
// read the same count and both pass. Session-level, so a request's own transactions commit
// inside it; a connection that breaks takes the lock with it.
class number_lock {
 public:
  static constexpr std::chrono::milliseconds number_lock_timeout{5000};
  static pg::db_result<number_lock> take(pg::connection& c, const std::string& key) {
    // Bounded: a server that lost its network while holding the lock keeps it until PostgreSQL
    // notices the dead session; meanwhile this number's requests fail after lock_timeout (503, the
    // gateway retries) instead of holding a database thread each. The FROM clause sets it first,
    // for this statement only.
    auto r = c.exec("SELECT pg_advisory_lock(hashtextextended($1, 0)) FROM (SELECT set_config('lock_timeout', $2, true)) t",
                    {"sms-number:" + key, std::to_string(number_lock_timeout.count()) + "ms"});
    if (!r) return r.error();
    return number_lock(c, key);
  }
  number_lock(number_lock&& other) noexcept : c_(std::exchange(other.c_, nullptr)), key_(std::move(other.key_)) {}
  number_lock(const number_lock&) = delete;
  number_lock& operator=(const number_lock&) = delete;
  number_lock& operator=(number_lock&&) = delete;
  ~number_lock() {
    if (c_) (void)c_->exec("SELECT pg_advisory_unlock(hashtextextended($1, 0))", {"sms-number:" + key_});
  }

 private:
  number_lock(pg::connection& c, std::string key) : c_(&c), key_(std::move(key)) {}
  pg::connection* c_;
  std::string key_;
};
}  // namespace

pg::db_result<pg::rows> pg_sms_tables::insert_log(const sms_log_entry& e) {
  return c_.exec("INSERT INTO sms_bridge_logs (event, status, mobile_masked, mobile_hash, message_id, detail) "
                 "VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6)",
                 {e.event, e.status, mask_number(e.mobile), number_key(secret_, e.mobile), e.message_id, e.detail});
}

void pg_sms_tables::log(const sms_log_entry& entry) { (void)insert_log(entry); }

pg::db_result<bool> pg_sms_tables::blacklisted(const std::string& mobile) {
  auto r = c_.exec("SELECT 1 FROM sms_blacklist WHERE mobile_number = $1", {mobile});
  if (!r) return r.error();
  return r->count() > 0;
}

pg::db_result<std::int64_t> pg_sms_tables::codes_issued_within(const std::string& mobile, std::int64_t seconds) {
  auto r = c_.exec("SELECT count(*) FROM onboarding_codes WHERE mobile_number = $1 AND generated_at > now() - make_interval(secs => $2::int)",
                   {mobile, std::to_string(seconds)});
  if (!r) return r.error();
  return whole(*r);
}

pg::db_result<issued_code> pg_sms_tables::issue_code(const std::string& mobile, const std::string& code,
                                                     const std::optional<std::string>& email,
                                                     const std::optional<std::string>& device_id, std::int64_t now_unix,
                                                     std::int64_t ttl_seconds) {
  auto r = c_.exec(fmt::format("INSERT INTO onboarding_codes (mobile_number, hash, email, device_id, generated_at, expires_at) "
                               "VALUES ($1, $2, $3, $4, to_timestamp($5::bigint), to_timestamp($5::bigint) + make_interval(secs => $6::int)) "
                               "RETURNING to_char(generated_at AT TIME ZONE 'UTC', {0}), to_char(expires_at AT TIME ZONE 'UTC', {0})",
                               iso_utc),
                   {mobile, code, email, device_id, std::to_string(now_unix), std::to_string(ttl_seconds)});
  if (!r) return r.error();
  return issued_code{std::string(*r->get(0, 0)), std::string(*r->get(0, 1))};
}

pg::db_result<std::int64_t> pg_sms_tables::messages_within(const std::string& mobile, std::int64_t seconds) {
  auto r = c_.exec("SELECT count(*) FROM sms_bridge_logs WHERE event = 'receive' AND mobile_hash = $1 "
                   "AND at > now() - make_interval(secs => $2::int)",
                   {number_key(secret_, mobile), std::to_string(seconds)});
  if (!r) return r.error();
  return whole(*r);
}

pg::db_result<std::optional<std::string>> pg_sms_tables::consume_code(const std::string& code, const std::string& mobile,
                                                                      const std::string& message_id) {
  auto tx = pg::transaction::begin(c_);
  if (!tx) return tx.error();
  auto used = c_.exec("UPDATE onboarding_codes SET consumed_at = now() "
                      "WHERE hash = $1 AND mobile_number = $2 AND consumed_at IS NULL AND expires_at > now() "
                      "RETURNING email, device_id",
                      {code, mobile});
  if (!used) return used.error();
  if (used->count() == 0) {
    tx->rollback();  // the read below is outside the transaction
    auto why = c_.exec("SELECT CASE WHEN mobile_number <> $2 THEN 'sent from another number' WHEN consumed_at IS NOT NULL THEN "
                       "'code already used' ELSE 'code expired' END FROM onboarding_codes WHERE hash = $1",
                       {code, mobile});
    if (!why) return why.error();
    return std::optional<std::string>(why->count() > 0 ? std::string(*why->get(0, 0)) : "unknown code");
  }
  auto verified = c_.exec("INSERT INTO verified_numbers (mobile_number, hash, email, device_id) VALUES ($1, $2, $3, $4) "
                          "ON CONFLICT (mobile_number) DO UPDATE SET hash = EXCLUDED.hash, email = EXCLUDED.email, "
                          "device_id = EXCLUDED.device_id, verified_at = now(), pin_consumed_at = NULL",
                          {mobile, code, text_or_null(*used, 0), text_or_null(*used, 1)});
  if (!verified) return verified.error();
  // The log row joins the transaction: one commit (one fsync) per SMS, and "received" only once
  // PostgreSQL really committed all three.
  if (auto logged = insert_log({"receive", "received", mobile, message_id, "verified"}); !logged) return logged.error();
  if (auto committed = tx->commit(); !committed) return committed.error();
  return std::optional<std::string>{};
}

pg::db_result<bool> pg_sms_tables::queue_account(const std::string& mobile, const std::string& hash, const std::string& sealed_pin) {
  auto tx = pg::transaction::begin(c_);
  if (!tx) return tx.error();
  // Consumed in the same transaction that queues the account: one PIN per verification.
  auto consumed = c_.exec(fmt::format("UPDATE verified_numbers SET pin_consumed_at = now() "
                                      "WHERE mobile_number = $1 AND hash = $2 AND pin_consumed_at IS NULL RETURNING email, device_id, "
                                      "to_char(verified_at AT TIME ZONE 'UTC', {})",
                                      iso_utc),
                          {mobile, hash});
  if (!consumed) return consumed.error();
  if (consumed->count() == 0) return false;  // rolled back by the guard
  boost::json::object payload{{"mobile_number", mobile}, {"verified_at", std::string(*consumed->get(0, 2))}};
  if (auto e = consumed->get(0, 0)) payload["email"] = std::string(*e);
  if (auto d = consumed->get(0, 1)) payload["device_id"] = std::string(*d);
  auto queued = c_.exec("INSERT INTO sync_outbox (mobile_number, payload, pin) VALUES ($1, $2::jsonb, $3) RETURNING idempotency_key",
                        {mobile, boost::json::serialize(payload), sealed_pin});
  if (!queued) return queued.error();
  if (auto logged = insert_log({"pin_setup", "success", mobile, "", "queued for delivery"}); !logged) return logged.error();
  if (auto committed = tx->commit(); !committed) return committed.error();
  return true;
}

// ---- the asynchronous store ---------------------------------------------------------------

boost::asio::awaitable<pg::db_result<register_outcome>> pg_sms_store::register_number(sms_settings settings, register_request request) {
  auto step = db_.call([this, settings = std::move(settings), request = std::move(request)](pg::connection& c) -> pg::db_result<register_outcome> {
    auto locked = number_lock::take(c, number_key(secret_, request.mobile));
    if (!locked) return locked.error();
    pg_sms_tables tables(c, secret_);
    return api::register_number(tables, settings, secret_, request);
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<receive_outcome>> pg_sms_store::receive_sms(sms_settings settings, receive_request request) {
  auto step = db_.call([this, settings = std::move(settings), request = std::move(request)](pg::connection& c) -> pg::db_result<receive_outcome> {
    auto locked = number_lock::take(c, number_key(secret_, request.mobile));
    if (!locked) return locked.error();
    pg_sms_tables tables(c, secret_);
    return api::receive_sms(tables, settings, request);
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<pin_status>> pg_sms_store::set_pin(std::string mobile, std::string hash, std::string sealed_pin) {
  auto step = db_.call([this, mobile = std::move(mobile), hash = std::move(hash), sealed_pin = std::move(sealed_pin)](
                           pg::connection& c) -> pg::db_result<pin_status> {
    pg_sms_tables tables(c, secret_);
    return api::set_pin(tables, mobile, hash, sealed_pin);
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<std::string>> pg_sms_store::blacklist_json() {
  auto step = db_.call([](pg::connection& c) -> pg::db_result<std::string> {
    auto r = c.exec("SELECT COALESCE(json_agg(b ORDER BY b.added_at DESC), '[]') FROM (SELECT mobile_number, reason, added_at "
                    "FROM sms_blacklist ORDER BY added_at DESC LIMIT 10000) b");
    if (!r) return r.error();
    return std::string(r->get(0, 0).value_or("[]"));
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<void>> pg_sms_store::blacklist(std::string mobile, std::string reason) {
  auto step = db_.call([mobile = std::move(mobile), reason = std::move(reason)](pg::connection& c) -> pg::db_result<void> {
    auto r = c.exec("INSERT INTO sms_blacklist (mobile_number, reason) VALUES ($1, $2) ON CONFLICT (mobile_number) DO UPDATE "
                    "SET reason = EXCLUDED.reason",
                    {mobile, reason});
    if (!r) return r.error();
    return {};
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<bool>> pg_sms_store::unblacklist(std::string mobile) {
  auto step = db_.call([mobile = std::move(mobile)](pg::connection& c) -> pg::db_result<bool> {
    auto r = c.exec("DELETE FROM sms_blacklist WHERE mobile_number = $1 RETURNING 1", {mobile});
    if (!r) return r.error();
    return r->count() > 0;
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<std::int64_t>> pg_sms_store::requeue_failed() {
  auto step = db_.call([](pg::connection& c) -> pg::db_result<std::int64_t> {
    // An item whose PIN retention wiped it stays failed: it must not reach the backend without one.
    auto moved = c.exec("WITH moved AS (UPDATE sync_outbox SET status = 'pending', next_attempt_at = now(), attempts = 0 "
                        "WHERE status = 'failed' AND pin IS NOT NULL RETURNING 1) SELECT count(*) FROM moved");
    if (!moved) return moved.error();
    return whole(*moved);
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<sms_gauges>> pg_sms_store::gauges() {
  auto step = db_.call([](pg::connection& c) -> pg::db_result<sms_gauges> {
    auto r = c.exec("SELECT (SELECT count(*) FROM sync_outbox WHERE status = 'pending'), "
                    "(SELECT count(*) FROM onboarding_codes WHERE consumed_at IS NULL AND expires_at > now()), "
                    "(SELECT count(*) FROM sms_blacklist)");
    if (!r) return r.error();
    const auto number = [&](int column) { return std::stod(std::string(r->get(0, column).value_or("0"))); };
    return sms_gauges{number(0), number(1), number(2)};
  });
  co_return co_await std::move(step);
}

}  // namespace smsbridge::api
