// The database thread: every libpq call runs there, on one long-lived connection.
#pragma once

#include <optional>
#include <string>
#include <type_traits>

#include "api-daemon/pg.hpp"
#include "api-daemon/worker.hpp"

namespace smsbridge::api {

class database {
 public:
  explicit database(std::string url) : url_(std::move(url)) {}
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  // Runs fn(pg::connection&) on the database thread and resumes the caller with its result.
  // Connects (or reconnects after a broken connection) first; if that fails, fn is not run and
  // the connection error is returned. fn must return a pg::db_result<T>.
  template <class F>
  auto call(F fn) -> boost::asio::awaitable<std::invoke_result_t<F, pg::connection&>> {
    auto step = [this, fn = std::move(fn)]() mutable { return call_now(fn); };
    auto done = thread_.run(std::move(step));
    co_return co_await std::move(done);
  }

  // The same, blocking: for start-up and subcommands, or from the database thread itself.
  template <class F>
  auto call_now(F& fn) -> std::invoke_result_t<F, pg::connection&> {
    if (!connection_ || !connection_->usable()) {
      connection_.reset();
      auto c = pg::connection::open(url_);
      if (!c) return c.error();
      connection_.emplace(std::move(*c));
    }
    return fn(*connection_);
  }

 private:
  std::string url_;
  std::optional<pg::connection> connection_;  // touched by one thread at a time (the database thread)
  worker thread_{1};
};

}  // namespace smsbridge::api
