// A firewall_client that lets requests arriving while a List of the doors is in flight share its
// answer, so a burst of port-status reads costs the helper one List, not one each.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "api-daemon/firewall_client.hpp"

namespace smsbridge::api {

// Read-your-writes holds: a List joins one in flight only if no door change through this client
// (open, extend, close, close-all) has finished since that List was sent, so an admin who opened
// a door and then asks sees it. A change the helper makes on its own (an expiry, a reload) is seen
// as any List would see it: one helper round trip at most older than the request. Only the first
// page is shared; later pages and every other verb go straight through. On the I/O thread only.
class coalescing_firewall_client final : public firewall_client {
 public:
  coalescing_firewall_client(boost::asio::any_io_executor executor, firewall_client& inner)
      : executor_(std::move(executor)), inner_(inner) {}

  boost::asio::awaitable<helper_result<v1::ListResult>> list(std::string after_service) override;

  boost::asio::awaitable<helper_result<v1::Grant>> open(open_request request) override;
  boost::asio::awaitable<helper_result<std::vector<helper_result<v1::Grant>>>> open_many(std::vector<open_request> requests) override;
  boost::asio::awaitable<helper_result<v1::ExtendResult>> extend(extend_request request) override;
  boost::asio::awaitable<helper_result<v1::Grant>> close(std::string service, std::string actor, std::string reason) override;
  boost::asio::awaitable<helper_result<v1::CloseAllResult>> close_all(std::string actor, std::string reason) override;
  boost::asio::awaitable<helper_result<v1::StatusResult>> status() override;
  boost::asio::awaitable<helper_result<v1::PortsResult>> check_ports(std::vector<std::uint32_t> ports) override;
  boost::asio::awaitable<helper_result<v1::PortsResult>> scan_ports(std::uint32_t start, std::uint32_t end,
                                                                   std::uint32_t count) override;
  boost::asio::awaitable<helper_result<v1::EventsResult>> events(std::uint32_t max) override;
  boost::asio::awaitable<helper_result<v1::AckResult>> ack(std::uint64_t seq) override;

 private:
  struct flight {
    explicit flight(const boost::asio::any_io_executor& e, std::uint64_t g) : done(e), changes(g) {}
    boost::asio::steady_timer done;  // never expires: cancelled when the answer is in
    std::uint64_t changes;           // changes_ when it was sent
    std::optional<helper_result<v1::ListResult>> answer;
  };

  boost::asio::any_io_executor executor_;
  firewall_client& inner_;
  std::uint64_t changes_ = 0;            // door changes finished through this client
  std::shared_ptr<flight> in_flight_;    // the first-page List others may join
};

}  // namespace smsbridge::api
