// The change feed of cached_admin_store: a PostgreSQL connection of its own that LISTENs on
// sms_bridge_admins (sql/013) and passes every notification on.
#pragma once

#include <string>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/admin_cache.hpp"
#include "api-daemon/worker.hpp"

namespace smsbridge::api {

// Runs until cancelled, on the I/O thread; connects (blocking libpq) on `connector`. Tells `cache`
// listening(true) once LISTEN is in place and listening(false) when the connection is lost, then
// reconnects after 1 s, doubling to 30 s while it fails. Logs the loss once and the return once.
boost::asio::awaitable<void> run_admin_listener(worker& connector, std::string url, std::string password,
                                                cached_admin_store& cache);

}  // namespace smsbridge::api
