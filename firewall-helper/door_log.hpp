// The journal's view of door events: a stable MESSAGE_ID per event kind and the fields operators
// select by (journalctl MESSAGE_ID=... or SMS_BRIDGE_SERVICE=metrics). The ids never change
// between versions; README.md (the helper's journal section) lists them.
#pragma once

#include <string_view>
#include <vector>

#include "common/log.hpp"
#include "firewall.pb.h"

namespace smsbridge::firewall {

inline std::string_view message_id_of(v1::EventKind kind) {
  switch (kind) {
    case v1::OPENED: return "e82c5e24b1a94b13a9edcc8dcee26587";
    case v1::CLOSED: return "1b496585feec46bd939d4811b720935c";
    case v1::EXPIRED: return "14bd21d1aa6e429a9d9661ff977cf544";
    case v1::EXPIRED_WHILE_DOWN: return "5474cf3332dd4a35989a8bb5fde6acd4";
    case v1::SHUTDOWN_CLOSED: return "144d79bf099e440aa34f3b51152dd616";
    case v1::DRIFT_REPAIRED: return "24c30c57d878472fa6c39493d295e588";
    case v1::DRIFT_REMOVED: return "56b575ffc06e4e94afe01917ea890f2c";
    case v1::EXTENDED: return "7d0f3a9c52e14b6e8c1a4f6b9e2d5a07";
    default: return "";
  }
}

// SMS_BRIDGE_EVENT (the kind, lower case), _SERVICE, _PORT, _SOURCE, _TARGET, _ACTOR and, when
// given, _REASON: what a door event is about.
inline std::vector<log::field> door_fields(v1::EventKind kind, const v1::Grant& g, std::string_view actor,
                                           std::string_view reason) {
  std::string event(v1::EventKind_Name(kind));
  for (auto& c : event) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  std::vector<log::field> fields{{"SMS_BRIDGE_EVENT", std::move(event)},
                                 {"SMS_BRIDGE_SERVICE", g.service()},
                                 {"SMS_BRIDGE_PORT", std::to_string(g.external_port())},
                                 {"SMS_BRIDGE_SOURCE", g.source()},
                                 {"SMS_BRIDGE_TARGET", g.target()},
                                 {"SMS_BRIDGE_ACTOR", std::string(actor)}};
  if (!reason.empty()) fields.push_back({"SMS_BRIDGE_REASON", std::string(reason)});
  return fields;
}

}  // namespace smsbridge::firewall
