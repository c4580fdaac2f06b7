// The SMS tables as the request handlers see them: asynchronous, one database round trip per
// method. pg_sms_store runs the decisions of sms_core.hpp on a database thread against
// PostgreSQL (pg_sms_tables); the tests run them against a fake.
#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/database.hpp"
#include "api-daemon/sms_core.hpp"

namespace smsbridge::api {

struct sms_gauges {
  double outbox_pending = 0, active_codes = 0, blacklist_size = 0;
};

class sms_store {
 public:
  virtual ~sms_store() = default;
  virtual boost::asio::awaitable<pg::db_result<register_outcome>> register_number(sms_settings settings, register_request request) = 0;
  virtual boost::asio::awaitable<pg::db_result<receive_outcome>> receive_sms(sms_settings settings, receive_request request) = 0;
  virtual boost::asio::awaitable<pg::db_result<pin_status>> set_pin(std::string mobile, std::string hash, std::string sealed_pin) = 0;
  // The blacklist, newest first (at most 10,000), as a JSON array of {mobile_number, reason, added_at}.
  virtual boost::asio::awaitable<pg::db_result<std::string>> blacklist_json() = 0;
  virtual boost::asio::awaitable<pg::db_result<void>> blacklist(std::string mobile, std::string reason) = 0;
  // False when the number was not blacklisted.
  virtual boost::asio::awaitable<pg::db_result<bool>> unblacklist(std::string mobile) = 0;
  // Failed outbox items back in line (those whose PIN retention wiped stay failed); how many.
  virtual boost::asio::awaitable<pg::db_result<std::int64_t>> requeue_failed() = 0;
  virtual boost::asio::awaitable<pg::db_result<sms_gauges>> gauges() = 0;
};

// sms_tables on one PostgreSQL connection. `secret` keys the number's hash in the log.
class pg_sms_tables final : public sms_tables {
 public:
  pg_sms_tables(pg::connection& c, std::string_view secret) : c_(c), secret_(secret) {}
  pg::db_result<bool> blacklisted(const std::string& mobile) override;
  pg::db_result<std::int64_t> codes_issued_within(const std::string& mobile, std::int64_t seconds) override;
  pg::db_result<issued_code> issue_code(const std::string& mobile, const std::string& code, const std::optional<std::string>& email,
                                        const std::optional<std::string>& device_id, std::int64_t now_unix,
                                        std::int64_t ttl_seconds) override;
  pg::db_result<std::int64_t> messages_within(const std::string& mobile, std::int64_t seconds) override;
  pg::db_result<std::optional<std::string>> consume_code(const std::string& code, const std::string& mobile,
                                                         const std::string& message_id) override;
  pg::db_result<bool> queue_account(const std::string& mobile, const std::string& hash, const std::string& sealed_pin) override;
  void log(const sms_log_entry& entry) override;

 private:
  pg::db_result<pg::rows> insert_log(const sms_log_entry& entry);
  pg::connection& c_;
  std::string_view secret_;
};

class pg_sms_store final : public sms_store {
 public:
  pg_sms_store(database& db, std::string secret) : db_(db), secret_(std::move(secret)) {}
  boost::asio::awaitable<pg::db_result<register_outcome>> register_number(sms_settings settings, register_request request) override;
  boost::asio::awaitable<pg::db_result<receive_outcome>> receive_sms(sms_settings settings, receive_request request) override;
  boost::asio::awaitable<pg::db_result<pin_status>> set_pin(std::string mobile, std::string hash, std::string sealed_pin) override;
  boost::asio::awaitable<pg::db_result<std::string>> blacklist_json() override;
  boost::asio::awaitable<pg::db_result<void>> blacklist(std::string mobile, std::string reason) override;
  boost::asio::awaitable<pg::db_result<bool>> unblacklist(std::string mobile) override;
  boost::asio::awaitable<pg::db_result<std::int64_t>> requeue_failed() override;
  boost::asio::awaitable<pg::db_result<sms_gauges>> gauges() override;

 private:
  database& db_;
  std::string secret_;
};

}  // namespace smsbridge::api
