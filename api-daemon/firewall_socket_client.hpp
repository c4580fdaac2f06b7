// firewall_client over the helper's Unix socket, on the I/O thread: no thread of its own, a few
// connections kept open and reused, and a deadline on every call.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "api-daemon/firewall_client.hpp"

namespace smsbridge::api {

class socket_firewall_client final : public firewall_client {
 public:
  // At most `connections` connections are open at once, and they are kept between calls; a call
  // that finds them all busy waits for one (within its deadline). The bound stays below the
  // helper's max_clients (16 by default), which the helper enforces by refusing the connection:
  // 64 HTTP requests at once must queue here for a few microseconds each, not fail there.
  socket_firewall_client(boost::asio::any_io_executor executor, std::string socket_path,
                         std::chrono::milliseconds deadline = std::chrono::seconds(10), std::size_t connections = 4);

  boost::asio::awaitable<helper_result<v1::Grant>> open(open_request request) override;
  boost::asio::awaitable<helper_result<std::vector<helper_result<v1::Grant>>>> open_many(std::vector<open_request> requests) override;
  boost::asio::awaitable<helper_result<v1::ExtendResult>> extend(extend_request request) override;
  boost::asio::awaitable<helper_result<v1::Grant>> close(std::string service, std::string actor, std::string reason) override;
  boost::asio::awaitable<helper_result<v1::CloseAllResult>> close_all(std::string actor, std::string reason) override;
  boost::asio::awaitable<helper_result<v1::ListResult>> list(std::string after_service) override;
  boost::asio::awaitable<helper_result<v1::StatusResult>> status() override;
  boost::asio::awaitable<helper_result<v1::PortsResult>> check_ports(std::vector<std::uint32_t> ports) override;
  boost::asio::awaitable<helper_result<v1::PortsResult>> scan_ports(std::uint32_t start, std::uint32_t end,
                                                                   std::uint32_t count) override;
  boost::asio::awaitable<helper_result<v1::EventsResult>> events(std::uint32_t max) override;
  boost::asio::awaitable<helper_result<v1::AckResult>> ack(std::uint64_t seq) override;

 private:
  using socket = boost::asio::local::stream_protocol::socket;
  // One request, one response (or its refusal, when the response is an Error).
  boost::asio::awaitable<helper_result<v1::Response>> call(v1::Request request);

  boost::asio::any_io_executor executor_;
  std::string path_;
  std::chrono::milliseconds deadline_;
  std::size_t max_open_;
  std::uint64_t next_id_ = 1;
  // Touched on the I/O thread only.
  std::size_t open_ = 0;                            // connections that exist, idle or in use
  std::vector<std::unique_ptr<socket>> idle_;
  // A call waiting for a connection. release() hands it one directly (first come, first served:
  // a call arriving later cannot take it first), or the right to open one.
  struct waiter {
    boost::asio::steady_timer wake;
    std::unique_ptr<socket> handed;
    bool may_open = false;
  };
  std::deque<waiter*> waiters_;  // oldest first

  // A connection for one call: a kept one (reused = true), or a new one, or a refusal.
  struct lease {
    std::unique_ptr<socket> s;
    bool reused = false;
  };
  boost::asio::awaitable<helper_result<lease>> acquire(std::chrono::steady_clock::time_point deadline);
  // Gives a connection back (or, when null, the slot of one that was dropped): to the oldest
  // waiter if there is one, else to idle_.
  void release(std::unique_ptr<socket> kept);
};

}  // namespace smsbridge::api
