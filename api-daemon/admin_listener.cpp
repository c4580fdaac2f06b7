// Waits on the LISTEN connection's socket from Asio, so the feed costs no thread while it is quiet.
#include "api-daemon/admin_listener.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log.hpp"

namespace smsbridge::api {

namespace {
namespace log = smsbridge::log;
namespace asio = boost::asio;

pg::db_result<pg::connection> open_listening(const std::string& url, const std::string& password) {
  auto c = pg::connection::open_waiting(url, password, "sms-bridge-api admin listener");
  if (!c) return c.error();
  if (auto r = c->exec("LISTEN sms_bridge_admins"); !r) return r.error();
  if (auto r = c->exec("LISTEN sms_bridge_logins"); !r) return r.error();
  return c;
}
}  // namespace

listener_retry next_listener_retry(std::optional<std::chrono::steady_clock::duration> lasted, std::chrono::seconds backoff) {
  constexpr std::chrono::seconds first{1}, longest{30}, long_enough{10};
  if (lasted && *lasted >= long_enough) return {std::chrono::seconds(0), first};
  return {backoff, std::min(backoff * 2, longest)};
}

asio::awaitable<void> run_admin_listener(worker& connector, std::string url, std::string password, cached_admin_store& cache,
                                         std::function<void(std::string_view)> on_login) {
  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer pause(executor);
  std::chrono::seconds backoff{1};
  bool lost = false;  // logged as lost, not yet as back
  for (;;) {
    auto opening = connector.run([&url, &password] { return open_listening(url, password); });
    auto opened = co_await std::move(opening);
    // The socket is watched through a duplicate, so Asio never closes the descriptor libpq owns.
    const int fd = opened ? ::fcntl(opened->socket(), F_DUPFD_CLOEXEC, 0) : -1;
    std::optional<std::chrono::steady_clock::duration> lasted;
    if (!opened || fd < 0) {
      if (!lost) {
        log::warning("cannot listen for admin changes in PostgreSQL ({}); every admin lookup asks the database until it can.",
                     opened ? std::string(std::strerror(errno)) : opened.error().message);
        lost = true;
      }
    } else {
      const auto since = std::chrono::steady_clock::now();
      asio::posix::stream_descriptor socket(executor, fd);
      cache.listening(true);
      log::info("listening for admin changes{}: admin lookups are answered from memory until one changes.", lost ? " again" : "");
      lost = false;
      for (;;) {
        const auto taken = opened->take_notifications();
        if (!taken) break;
        bool admins_changed = false;
        for (const auto& n : *taken) {
          if (n.channel == "sms_bridge_logins") on_login(n.payload);
          else admins_changed = true;
        }
        if (admins_changed) cache.changed();
        boost::system::error_code ec;
        co_await socket.async_wait(asio::posix::stream_descriptor::wait_read, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
      }
      cache.listening(false);
      log::warning("lost the connection that listens for admin changes; every admin lookup asks the database until it is back.");
      lost = true;
      lasted = std::chrono::steady_clock::now() - since;
    }
    const auto retry = next_listener_retry(lasted, backoff);
    backoff = retry.backoff;
    if (retry.pause.count() == 0) continue;
    pause.expires_after(retry.pause);
    co_await pause.async_wait(asio::use_awaitable);
  }
}

}  // namespace smsbridge::api
