// Which peers are our own reverse proxies, and what they may tell us: the client's address
// (X-Forwarded-For) and whether the request came over HTTPS (X-Forwarded-Proto).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api-daemon/http_router.hpp"
#include "proto/net_types.hpp"

namespace smsbridge::api {

class trusted_proxies {
 public:
  // CIDRs that do not parse are ignored here: api_config has already refused them.
  explicit trusted_proxies(const std::vector<std::string>& cidrs);

  bool trusts(std::string_view address) const;

  // The TCP peer, or X-Forwarded-For's nearest untrusted hop when the peer is a trusted proxy.
  std::string client_address(const http_request& request, const request_context& context) const;

  // Whether the request came over HTTPS: only a trusted proxy can say so.
  bool over_https(const http_request& request, const request_context& context) const;

 private:
  std::vector<firewall::cidr> networks_;
};

}  // namespace smsbridge::api
