// The change feed of cached_admin_store: a PostgreSQL connection of its own that LISTENs on
// sms_bridge_admins (sql/013) and passes every notification on; and on sms_bridge_logins, where
// the api-daemons on one database share their login outcomes (basic_auth::take_shared).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/admin_cache.hpp"
#include "api-daemon/worker.hpp"

namespace smsbridge::api {

// When to reconnect after losing the feed. A connection that lasted 10 s is retried at once and
// the backoff starts again at 1 s; one that never opened (`lasted` empty) or ended sooner waits
// `backoff` first, which then doubles up to 30 s: a server that keeps ending the session early
// must not see one attempt after another, nor the log one line after another.
struct listener_retry {
  std::chrono::seconds pause;
  std::chrono::seconds backoff;  // for the next loss
};
listener_retry next_listener_retry(std::optional<std::chrono::steady_clock::duration> lasted, std::chrono::seconds backoff);

// Runs until cancelled, on the I/O thread; connects (blocking libpq) on `connector`. Tells `cache`
// listening(true) once LISTEN is in place and listening(false) when the connection is lost, then
// reconnects as next_listener_retry says. Logs the loss once and the return once. Each payload on
// sms_bridge_logins goes to `on_login`; while the feed is lost, logins are counted per server.
boost::asio::awaitable<void> run_admin_listener(worker& connector, std::string url, std::string password,
                                                cached_admin_store& cache, std::function<void(std::string_view)> on_login);

}  // namespace smsbridge::api
