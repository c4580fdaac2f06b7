// The firewall helper as sms-bridge-api sees it: typed asynchronous calls on the I/O thread, each
// answering a value or a refusal. socket_firewall_client speaks the protocol; tests use a fake.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/system/result.hpp>

#include "firewall.pb.h"

namespace smsbridge::api {

namespace v1 = firewall::v1;

// Why the helper did not do what was asked: its error code and sentence, or `unreachable` when no
// answer came at all (not running, a broken connection, the deadline passed).
struct refusal {
  v1::ErrorCode code = v1::INTERNAL;
  std::string sentence;  // the helper's own sentence, written for admins; ours when unreachable
  bool unreachable = false;
};

template <class T>
using helper_result = boost::system::result<T, refusal>;

// What helper_result::value() throws on a refusal (found by argument-dependent lookup).
[[noreturn]] void throw_exception_from_error(const refusal& r, const boost::source_location& where);

refusal unreachable_refusal(std::string why);

// The one table from a refusal to an HTTP status: a request the helper judged wrong is a 4xx with
// its sentence; a helper that could not act is a 5xx.
boost::beast::http::status http_status_of(const refusal& r);

// The sentence an HTTP client sees: the helper's for refusals of the request, a generic one for
// infrastructure failures (which are logged with their detail instead).
std::string public_sentence(const refusal& r);

struct open_request {
  std::string service;
  std::uint32_t external_port = 0;
  std::string source;  // a canonical CIDR
  std::uint32_t duration_seconds = 0;
  std::string actor;
  std::string reason;  // "" when none was given
};

// A live door's new deadline: now + duration_seconds (longer or shorter than before).
struct extend_request {
  std::string service;
  std::uint32_t duration_seconds = 0;
  std::string actor;
  std::string reason;
};

class firewall_client {
 public:
  virtual ~firewall_client() = default;

  virtual boost::asio::awaitable<helper_result<v1::Grant>> open(open_request request) = 0;
  // Several doors in one helper request (one nft batch, one journal write): an outcome per door,
  // in order, or a refusal of the whole request (unreachable, or more than 64 doors).
  virtual boost::asio::awaitable<helper_result<std::vector<helper_result<v1::Grant>>>> open_many(std::vector<open_request> requests) = 0;
  // NOT_OPEN when the service has no live door.
  virtual boost::asio::awaitable<helper_result<v1::ExtendResult>> extend(extend_request request) = 0;
  virtual boost::asio::awaitable<helper_result<v1::Grant>> close(std::string service, std::string actor, std::string reason) = 0;
  virtual boost::asio::awaitable<helper_result<v1::CloseAllResult>> close_all(std::string actor, std::string reason) = 0;
  // One page of the live grants, starting after `after_service`.
  virtual boost::asio::awaitable<helper_result<v1::ListResult>> list(std::string after_service) = 0;
  virtual boost::asio::awaitable<helper_result<v1::StatusResult>> status() = 0;
  virtual boost::asio::awaitable<helper_result<v1::PortsResult>> check_ports(std::vector<std::uint32_t> ports) = 0;
  virtual boost::asio::awaitable<helper_result<v1::PortsResult>> scan_ports(std::uint32_t start, std::uint32_t end,
                                                                           std::uint32_t count) = 0;
  virtual boost::asio::awaitable<helper_result<v1::EventsResult>> events(std::uint32_t max) = 0;
  virtual boost::asio::awaitable<helper_result<v1::AckResult>> ack(std::uint64_t seq) = 0;
};

// Every live grant, across pages (at most 1000 pages, far beyond any helper's grant limit).
boost::asio::awaitable<helper_result<std::vector<v1::Grant>>> all_grants(firewall_client& helper);

}  // namespace smsbridge::api
