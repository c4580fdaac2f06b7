// The database threads: every libpq call runs there, each on a connection of a small pool.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "api-daemon/pg.hpp"
#include "api-daemon/worker.hpp"

namespace smsbridge::api {

class database {
 public:
  // `connections` threads, each using at most one of as many long-lived connections at a time:
  // concurrent requests run concurrent transactions (and share PostgreSQL's group commits).
  explicit database(std::string url, std::size_t connections = 1, std::string password = {})
      : url_(std::move(url)), password_(std::move(password)), threads_(connections) {}
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  // Runs fn(pg::connection&) on a database thread and resumes the caller with its result.
  // Connects (or reconnects after a broken connection) first; if that fails, fn is not run and
  // the connection error is returned. fn must return a pg::db_result<T>.
  template <class F>
  auto call(F fn) -> boost::asio::awaitable<std::invoke_result_t<F, pg::connection&>> {
    auto step = [this, fn = std::move(fn)]() mutable { return call_now(fn); };
    auto done = threads_.run(std::move(step));
    co_return co_await std::move(done);
  }

  // The same, blocking, on the calling thread: for start-up and subcommands.
  template <class F>
  auto call_now(F& fn) -> std::invoke_result_t<F, pg::connection&> {
    std::unique_ptr<pg::connection> c = take();
    if (!c || !c->usable()) {
      auto opened = pg::connection::open(url_, 5, password_);
      if (!opened) return opened.error();
      c = std::make_unique<pg::connection>(std::move(*opened));
    }
    auto result = fn(*c);
    // A broken connection is dropped, and so is one left inside a transaction (a call that began
    // one without a pg::transaction guard): the next call must never inherit its state.
    if (c->idle()) give_back(std::move(c));
    return result;
  }

 private:
  std::unique_ptr<pg::connection> take() {
    std::lock_guard lock(mutex_);
    if (idle_.empty()) return nullptr;
    auto c = std::move(idle_.back());
    idle_.pop_back();
    // A connection idle across a PostgreSQL restart is dead: reconnect rather than fail the call.
    if (!c->alive()) return nullptr;
    return c;
  }
  void give_back(std::unique_ptr<pg::connection> c) {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(c));
  }

  std::string url_;
  std::string password_;  // SMS_BRIDGE_DATABASE_PASSWORD(_FILE); empty: libpq's own sources
  std::mutex mutex_;
  std::vector<std::unique_ptr<pg::connection>> idle_;  // at most one per thread ever exists
  worker threads_;
};

}  // namespace smsbridge::api
