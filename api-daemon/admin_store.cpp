// The PostgreSQL admin_store: each method one query on a database thread.
#include "api-daemon/admin_store.hpp"

#include "api-daemon/admin_totp.hpp"

namespace smsbridge::api {

// Each runs one function of admins.hpp / sessions.hpp on a database thread.
boost::asio::awaitable<pg::db_result<std::optional<admin_record>>> pg_admin_store::find_admin(std::string name) {
  auto step = db_.call([name](pg::connection& c) { return api::find_admin(c, name); });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<void>> pg_admin_store::record_auth_event(std::string name, std::string source,
                                                                             std::string method, std::string outcome,
                                                                             std::string announce) {
  auto step = db_.call([name, source, method, outcome, announce](pg::connection& c) {
    return api::record_auth_event(c, name, source, method, outcome, announce);
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<new_session>> pg_admin_store::create_session(std::string name, std::int32_t password_version,
                                                                                 bool otp_verified) {
  auto step = db_.call([name, password_version, otp_verified](pg::connection& c) {
    return api::create_session(c, name, password_version, otp_verified);
  });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<std::optional<session_record>>> pg_admin_store::find_session(std::string token) {
  auto step = db_.call([token](pg::connection& c) { return api::find_session(c, token); });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<void>> pg_admin_store::delete_session(std::string token) {
  auto step = db_.call([token](pg::connection& c) { return api::delete_session(c, token); });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<void>> pg_admin_store::mark_session_otp(std::string token) {
  auto step = db_.call([token](pg::connection& c) { return api::mark_session_otp(c, token); });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<bool>> pg_admin_store::accept_totp_step(std::string name, std::int64_t step_number) {
  auto step = db_.call([name, step_number](pg::connection& c) { return api::accept_totp_step(c, name, step_number); });
  co_return co_await std::move(step);
}

boost::asio::awaitable<pg::db_result<bool>> pg_admin_store::spend_recovery_code(std::string name, std::string code_hash) {
  auto step = db_.call([name, code_hash](pg::connection& c) { return api::spend_recovery_code(c, name, code_hash); });
  co_return co_await std::move(step);
}

}  // namespace smsbridge::api
