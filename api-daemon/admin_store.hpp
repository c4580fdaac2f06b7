// The admins' queries as the request handlers see them: one asynchronous method per query, a
// PostgreSQL implementation, and (in the tests) a fake.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/admins.hpp"
#include "api-daemon/database.hpp"
#include "api-daemon/sessions.hpp"

namespace smsbridge::api {

class admin_store {
 public:
  virtual ~admin_store() = default;
  virtual boost::asio::awaitable<pg::db_result<std::optional<admin_record>>> find_admin(std::string name) = 0;
  // method: basic|session|cli; outcome: success|failure|throttled|changed. `announce`: what the
  // other api-daemons on the database are told with it (an encode_shared_login payload), or "".
  virtual boost::asio::awaitable<pg::db_result<void>> record_auth_event(std::string name, std::string source, std::string method,
                                                                       std::string outcome, std::string announce) = 0;
  virtual boost::asio::awaitable<pg::db_result<new_session>> create_session(std::string name, std::int32_t password_version,
                                                                           bool otp_verified) = 0;
  virtual boost::asio::awaitable<pg::db_result<std::optional<session_record>>> find_session(std::string token) = 0;
  virtual boost::asio::awaitable<pg::db_result<void>> delete_session(std::string token) = 0;
  virtual boost::asio::awaitable<pg::db_result<void>> mark_session_otp(std::string token) = 0;
  // The second factor's durable checks (admin_totp.hpp): false means refuse the code.
  virtual boost::asio::awaitable<pg::db_result<bool>> accept_totp_step(std::string name, std::int64_t step) = 0;
  virtual boost::asio::awaitable<pg::db_result<bool>> spend_recovery_code(std::string name, std::string code_hash) = 0;
};

class pg_admin_store final : public admin_store {
 public:
  explicit pg_admin_store(database& db) : db_(db) {}
  boost::asio::awaitable<pg::db_result<std::optional<admin_record>>> find_admin(std::string name) override;
  boost::asio::awaitable<pg::db_result<void>> record_auth_event(std::string name, std::string source, std::string method,
                                                               std::string outcome, std::string announce) override;
  boost::asio::awaitable<pg::db_result<new_session>> create_session(std::string name, std::int32_t password_version,
                                                                   bool otp_verified) override;
  boost::asio::awaitable<pg::db_result<std::optional<session_record>>> find_session(std::string token) override;
  boost::asio::awaitable<pg::db_result<void>> delete_session(std::string token) override;
  boost::asio::awaitable<pg::db_result<void>> mark_session_otp(std::string token) override;
  boost::asio::awaitable<pg::db_result<bool>> accept_totp_step(std::string name, std::int64_t step) override;
  boost::asio::awaitable<pg::db_result<bool>> spend_recovery_code(std::string name, std::string code_hash) override;

 private:
  database& db_;
};

}  // namespace smsbridge::api
