// The HTTP shell: a Beast listener and sessions with bounded requests and timeouts.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "api-daemon/http_request_reader.hpp"
#include "api-daemon/http_router.hpp"

namespace smsbridge::api {

// Told of every answered request: the route (a path of the table, or "unmatched"), the method,
// the status and the seconds from request read to answer written.
using request_observer = std::function<void(std::string_view route, std::string_view method, unsigned status, double seconds)>;

// Accepts on `acceptor` forever, one coroutine per connection. A failure inside a handler is
// logged (as an error: it is a bug) and answered with a bare 500.
boost::asio::awaitable<void> serve_http(boost::asio::ip::tcp::acceptor& acceptor, const router& routes,
                                        http_limits limits, request_observer observe);

}  // namespace smsbridge::api
