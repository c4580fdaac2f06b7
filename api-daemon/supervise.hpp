// Background loops that must not die silently: a loop that throws is logged and restarted after
// a pause (1 s, doubling up to a minute), so the outbox or the audit drain never just stop.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace smsbridge::api {

using loop_factory = std::function<boost::asio::awaitable<void>()>;

// Runs loop() on `executor` for the life of the daemon (until the executor stops).
void supervise(boost::asio::any_io_executor executor, std::string name, loop_factory loop,
               std::chrono::milliseconds first_pause = std::chrono::seconds(1));

}  // namespace smsbridge::api
