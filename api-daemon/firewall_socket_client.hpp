// firewall_client over the helper's Unix socket, on the I/O thread: no thread of its own, a few
// connections kept open and reused, and a deadline on every call.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "api-daemon/firewall_client.hpp"

namespace smsbridge::api {

class socket_firewall_client final : public firewall_client {
 public:
  // `keep_idle` connections at most stay open between calls; more calls at once each get a
  // connection of their own (the helper bounds its clients and says so when there are too many).
  socket_firewall_client(boost::asio::any_io_executor executor, std::string socket_path,
                         std::chrono::milliseconds deadline = std::chrono::seconds(10), std::size_t keep_idle = 4);

  boost::asio::awaitable<helper_result<v1::Grant>> open(open_request request) override;
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
  std::size_t keep_idle_;
  std::uint64_t next_id_ = 1;
  std::vector<std::unique_ptr<socket>> idle_;  // touched on the I/O thread only
};

}  // namespace smsbridge::api
