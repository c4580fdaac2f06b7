// The database thread: blocking libpq calls run there, never on the I/O thread.
#pragma once

#include <optional>
#include <string>
#include <type_traits>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api-daemon/pg.hpp"

namespace smsbridge::api {

class database {
 public:
  explicit database(std::string url) : url_(std::move(url)) {}
  ~database() { pool_.join(); }
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  // Runs fn(pg::connection&) on the database thread and resumes the caller with its result.
  // Connects (or reconnects after a broken connection) first; if that fails, fn is not run and
  // the connection error is returned. fn must return a pg::db_result<T>.
  template <class F>
  auto call(F fn) -> boost::asio::awaitable<std::invoke_result_t<F, pg::connection&>> {
    // Named steps, no temporaries inside the co_await: g++ 12 can destroy such temporaries twice
    // (a double free seen here), and a lambda coroutine's captures do not survive co_spawn.
    auto work = with_connection(this, std::move(fn));
    auto done = boost::asio::co_spawn(pool_.get_executor(), std::move(work), boost::asio::use_awaitable);
    co_return co_await std::move(done);
  }

  // Runs other blocking work (fn()) on the database thread, without touching the connection.
  template <class F>
  auto run(F fn) -> boost::asio::awaitable<std::invoke_result_t<F>> {
    auto work = invoke(std::move(fn));
    auto done = boost::asio::co_spawn(pool_.get_executor(), std::move(work), boost::asio::use_awaitable);
    co_return co_await std::move(done);
  }

  // The same, blocking, for start-up and subcommands (before the I/O thread runs).
  template <class F>
  auto call_now(F fn) -> std::invoke_result_t<F, pg::connection&> {
    if (auto c = connected(); !c) return c.error();
    return fn(*connection_);
  }

 private:
  template <class F>
  static auto with_connection(database* self, F fn) -> boost::asio::awaitable<std::invoke_result_t<F, pg::connection&>> {
    if (auto c = self->connected(); !c) co_return c.error();
    auto r = fn(*self->connection_);
    if (!self->connection_->usable()) self->connection_.reset();  // reconnect next time
    co_return r;
  }

  template <class F>
  static auto invoke(F fn) -> boost::asio::awaitable<std::invoke_result_t<F>> {
    co_return fn();
  }

  pg::db_result<void> connected() {
    if (connection_ && connection_->usable()) return {};
    auto c = pg::connection::open(url_);
    if (!c) return c.error();
    connection_.emplace(std::move(*c));
    return {};
  }

  std::string url_;
  std::optional<pg::connection> connection_;  // touched only on the database thread
  boost::asio::thread_pool pool_{1};
};

}  // namespace smsbridge::api
