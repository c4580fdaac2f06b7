// The refusal table and what every firewall_client shares.
#include "api-daemon/firewall_client.hpp"

#include <stdexcept>

namespace smsbridge::api {

namespace http = boost::beast::http;

void throw_exception_from_error(const refusal& r, const boost::source_location&) { throw std::runtime_error(r.sentence); }

refusal unreachable_refusal(std::string why) { return refusal{v1::INTERNAL, std::move(why), true}; }

http::status http_status_of(const refusal& r) {
  if (r.unreachable) return http::status::service_unavailable;
  switch (r.code) {
    case v1::UNKNOWN_SERVICE:
    case v1::NOT_OPEN:
      return http::status::not_found;
    case v1::PORT_FORBIDDEN:
    case v1::PORT_IN_USE:
    case v1::ALREADY_OPEN:
      return http::status::conflict;
    case v1::DURATION_OUT_OF_RANGE:
    case v1::SOURCE_NOT_ALLOWED:
    case v1::INVALID_ARGUMENT:
      return http::status::unprocessable_entity;
    case v1::RESOURCE_EXHAUSTED:
    case v1::STATE_WRITE_FAILED:  // e.g. its disk is full: nothing changed, try again later
      return http::status::service_unavailable;
    default:  // PERMISSION_DENIED, NFT_FAILED, UNKNOWN_VERB, INTERNAL: ours to fix, not the caller's
      return http::status::bad_gateway;
  }
}

std::string public_sentence(const refusal& r) {
  if (r.unreachable) return "The firewall helper is not reachable.";
  if (http_status_of(r) == http::status::bad_gateway) return "The firewall helper could not carry out the request.";
  return r.sentence;
}

boost::asio::awaitable<helper_result<std::vector<v1::Grant>>> all_grants(firewall_client& helper) {
  std::vector<v1::Grant> grants;
  std::string after;
  for (int page = 0; page < 1000; ++page) {
    auto step = helper.list(after);
    auto listed = co_await std::move(step);
    if (!listed) co_return listed.error();
    grants.insert(grants.end(), listed->grants().begin(), listed->grants().end());
    after = listed->next_after_service();
    if (after.empty()) break;
  }
  co_return grants;
}

}  // namespace smsbridge::api
