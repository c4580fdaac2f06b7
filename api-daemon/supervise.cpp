#include "api-daemon/supervise.hpp"

#include <algorithm>
#include <exception>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "common/log.hpp"

namespace smsbridge::api {

namespace {
boost::asio::awaitable<void> supervised(boost::asio::any_io_executor executor, std::string name, loop_factory loop,
                                        std::chrono::milliseconds first_pause) {
  boost::asio::steady_timer timer(executor);
  auto pause = first_pause;
  for (;;) {
    std::string why;
    try {
      auto running = loop();
      co_await std::move(running);
      why = "it returned";
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
      why = "an unknown exception";
    }
    log::error("the {} loop stopped ({}); it restarts in {} ms.", name, why, pause.count());
    timer.expires_after(pause);
    co_await timer.async_wait(boost::asio::use_awaitable);
    pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::minutes(1));
  }
}
}  // namespace

void supervise(boost::asio::any_io_executor executor, std::string name, loop_factory loop, std::chrono::milliseconds first_pause) {
  // detached is safe here: supervised() catches everything its loop throws, and its own timer
  // throws only when the executor is being destroyed.
  boost::asio::co_spawn(executor, supervised(executor, std::move(name), std::move(loop), first_pause),
                        boost::asio::detached);
}

}  // namespace smsbridge::api
