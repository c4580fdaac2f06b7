#include "api-daemon/trusted_proxies.hpp"

namespace smsbridge::api {

trusted_proxies::trusted_proxies(const std::vector<std::string>& cidrs) {
  for (const auto& text : cidrs) {
    if (auto net = firewall::parse_cidr(text)) networks_.push_back(*net);
  }
}

bool trusted_proxies::trusts(std::string_view address) const {
  auto ip = firewall::parse_ip_address(address);
  if (!ip) return false;
  for (const auto& net : networks_) {
    if (net.contains(*ip)) return true;
  }
  return false;
}

std::string trusted_proxies::client_address(const http_request& request, const request_context& context) const {
  if (!trusts(context.peer_ip)) return context.peer_ip;
  const auto header = request["X-Forwarded-For"];
  // Walk from the nearest hop outwards, past our own proxies, to the first address we do not trust.
  std::string_view rest(header.data(), header.size());
  while (!rest.empty()) {
    const auto comma = rest.rfind(',');
    std::string_view hop = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    while (!hop.empty() && hop.front() == ' ') hop.remove_prefix(1);
    while (!hop.empty() && hop.back() == ' ') hop.remove_suffix(1);
    if (!firewall::parse_ip_address(hop)) break;  // garbage: believe nothing further
    if (!trusts(hop)) return std::string(hop);
  }
  return context.peer_ip;
}

bool trusted_proxies::over_https(const http_request& request, const request_context& context) const {
  return trusts(context.peer_ip) && request["X-Forwarded-Proto"] == "https";
}

}  // namespace smsbridge::api
