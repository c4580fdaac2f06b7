// One rtnetlink question: which source address the kernel picks for an outside destination.
#pragma once

#include <string>

namespace smsbridge::firewall {

// `ip route get 192.0.2.1`'s "src": the preferred source of the route (normally the default
// route) to a documentation address, over NETLINK_ROUTE, which the helper's unit allows (its
// RestrictAddressFamilies has no AF_INET). Sends nothing on the network. "" when there is no
// such route or the kernel does not answer within a second.
std::string default_route_source_v4();

}  // namespace smsbridge::firewall
