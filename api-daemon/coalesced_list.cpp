// Shared first-page Lists of the helper's doors.
#include "api-daemon/coalesced_list.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace smsbridge::api {

boost::asio::awaitable<helper_result<v1::ListResult>> coalescing_firewall_client::list(std::string after_service) {
  if (!after_service.empty()) {
    auto page = inner_.list(std::move(after_service));
    co_return co_await std::move(page);
  }
  if (in_flight_ && in_flight_->changes == changes_) {
    const auto joined = in_flight_;  // kept alive here even after the sender lets go
    while (!joined->answer) {
      boost::system::error_code ignored;
      co_await joined->done.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    }
    co_return *joined->answer;
  }
  auto sent = std::make_shared<flight>(executor_, changes_);
  sent->done.expires_at(boost::asio::steady_timer::time_point::max());
  in_flight_ = sent;
  auto listing = inner_.list("");
  sent->answer = co_await std::move(listing);
  if (in_flight_ == sent) in_flight_.reset();
  sent->done.cancel();
  co_return *sent->answer;
}

// The door changes: counted when they finish, so no later List joins one sent before.
boost::asio::awaitable<helper_result<v1::Grant>> coalescing_firewall_client::open(open_request request) {
  auto step = inner_.open(std::move(request));
  auto r = co_await std::move(step);
  ++changes_;
  co_return r;
}

boost::asio::awaitable<helper_result<std::vector<helper_result<v1::Grant>>>> coalescing_firewall_client::open_many(
    std::vector<open_request> requests) {
  auto step = inner_.open_many(std::move(requests));
  auto r = co_await std::move(step);
  ++changes_;
  co_return r;
}

boost::asio::awaitable<helper_result<v1::ExtendResult>> coalescing_firewall_client::extend(extend_request request) {
  auto step = inner_.extend(std::move(request));
  auto r = co_await std::move(step);
  ++changes_;
  co_return r;
}

boost::asio::awaitable<helper_result<v1::Grant>> coalescing_firewall_client::close(std::string service, std::string actor,
                                                                                  std::string reason) {
  auto step = inner_.close(std::move(service), std::move(actor), std::move(reason));
  auto r = co_await std::move(step);
  ++changes_;
  co_return r;
}

boost::asio::awaitable<helper_result<v1::CloseAllResult>> coalescing_firewall_client::close_all(std::string actor, std::string reason) {
  auto step = inner_.close_all(std::move(actor), std::move(reason));
  auto r = co_await std::move(step);
  ++changes_;
  co_return r;
}

// The rest pass straight through.
boost::asio::awaitable<helper_result<v1::StatusResult>> coalescing_firewall_client::status() {
  auto step = inner_.status();
  co_return co_await std::move(step);
}

boost::asio::awaitable<helper_result<v1::PortsResult>> coalescing_firewall_client::check_ports(std::vector<std::uint32_t> ports) {
  auto step = inner_.check_ports(std::move(ports));
  co_return co_await std::move(step);
}

boost::asio::awaitable<helper_result<v1::PortsResult>> coalescing_firewall_client::scan_ports(std::uint32_t start, std::uint32_t end,
                                                                                             std::uint32_t count) {
  auto step = inner_.scan_ports(start, end, count);
  co_return co_await std::move(step);
}

boost::asio::awaitable<helper_result<v1::EventsResult>> coalescing_firewall_client::events(std::uint32_t max) {
  auto step = inner_.events(max);
  co_return co_await std::move(step);
}

boost::asio::awaitable<helper_result<v1::AckResult>> coalescing_firewall_client::ack(std::uint64_t seq) {
  auto step = inner_.ack(seq);
  co_return co_await std::move(step);
}

}  // namespace smsbridge::api
