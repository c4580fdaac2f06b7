#include "api-daemon/monitoring_context.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <google/protobuf/util/time_util.h>

#include "common/log.hpp"

namespace smsbridge::api {

namespace {
// The address this daemon's own kernel would use for an outside destination (a UDP "connect"
// sends nothing): right when it shares the host's network namespace, a container's otherwise.
std::string own_outside_address() {
  boost::asio::io_context io;
  boost::asio::ip::udp::socket s(io);
  boost::system::error_code ec;
  s.open(boost::asio::ip::udp::v4(), ec);
  if (!ec) s.connect({boost::asio::ip::make_address("192.0.2.1"), 9}, ec);
  if (!ec) {
    auto local = s.local_endpoint(ec);
    if (!ec) return local.address().to_string();
  }
  return "127.0.0.1";
}
}  // namespace

boost::asio::awaitable<std::string> server_address_source::get() {
  if (configured_ != "auto") co_return configured_;
  const auto now = std::chrono::steady_clock::now();
  if (!known_.empty() && now - asked_at_ < std::chrono::minutes(1)) co_return known_;
  auto asking = helper_.status();
  const auto status = co_await std::move(asking);
  if (status && !status->host_address().empty()) {
    known_ = status->host_address();
    asked_at_ = now;
    co_return known_;
  }
  co_return own_outside_address();
}

boost::asio::awaitable<std::optional<std::string>> server_address_source::identity() {
  if (configured_ != "auto") co_return configured_;
  auto asking = helper_.status();
  const auto status = co_await std::move(asking);
  if (!status) co_return std::nullopt;
  co_return status->host_address();
}

handler monitoring_endpoint(monitoring_context& m, monitoring_handler fn) {
  return m.gate.require_admin([&m, fn](const http_request& r, const request_context& c, const std::string& who) { return fn(m, r, c, who); });
}

void log_refusal(const refusal& r) {
  if (r.unreachable) log::warning("{}", r.sentence);
  else if (http_status_of(r) == http::status::bad_gateway) log::error("the firewall helper could not act: {}", r.sentence);
}

http_response refused(const http_request& request, const refusal& r) {
  log_refusal(r);
  return error_response(request, http_status_of(r), public_sentence(r));
}

std::optional<monitoring_ports> read_ports(monitoring_context& m) {
  auto ports = m.settings.ports();
  if (!ports) {
    log::error("{}", ports.error().message);
    return std::nullopt;
  }
  return std::move(*ports);
}

http_response settings_unreadable(const http_request& request) {
  return error_response(request, http::status::internal_server_error, "The settings file cannot be read.");
}

std::string iso(const google::protobuf::Timestamp& t) { return google::protobuf::util::TimeUtil::ToString(t); }
std::string now_iso() { return iso(google::protobuf::util::TimeUtil::GetCurrentTime()); }

}  // namespace smsbridge::api
