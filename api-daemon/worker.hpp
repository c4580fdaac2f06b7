// A small pool of threads for blocking work (libpq, argon2id), so
// that the I/O thread never blocks. Coroutines hand work over and resume with its result.
#pragma once

#include <cstddef>
#include <type_traits>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace smsbridge::api {

class worker {
 public:
  explicit worker(std::size_t threads) : pool_(threads) {}
  ~worker() { pool_.join(); }
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Runs fn() on a pool thread; the caller resumes on its own executor with the result.
  template <class F>
  auto run(F fn) -> boost::asio::awaitable<std::invoke_result_t<F>> {
    // Named steps, no temporaries inside the co_await: g++ 12 can destroy such temporaries twice
    // (a double free seen here), and a lambda coroutine's captures do not survive co_spawn.
    auto work = invoke(std::move(fn));
    auto done = boost::asio::co_spawn(pool_.get_executor(), std::move(work), boost::asio::use_awaitable);
    co_return co_await std::move(done);
  }

 private:
  template <class F>
  static auto invoke(F fn) -> boost::asio::awaitable<std::invoke_result_t<F>> {
    co_return fn();
  }

  boost::asio::thread_pool pool_;
};

}  // namespace smsbridge::api
