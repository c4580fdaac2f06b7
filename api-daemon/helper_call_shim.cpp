// TRANSITIONAL: the blocking, socket-per-call helper client that monitoring_api.cpp still uses,
// until its handlers move onto firewall_client.
#include <chrono>

#include "api-daemon/app.hpp"
#include "proto/helper_client.hpp"

namespace smsbridge::api {

boost::asio::awaitable<fallible<firewall::v1::Response>> call_helper(app& a, firewall::v1::Request request) {
  auto job = [socket = a.config.firewall_socket, request = std::move(request)]() -> fallible<firewall::v1::Response> {
    auto client = firewall::helper_client::connect(socket, std::chrono::seconds(10));
    if (!client) return client.error();
    return client->call(request);
  };
  auto step = a.helper_thread.run(std::move(job));
  co_return co_await std::move(step);
}

}  // namespace smsbridge::api
