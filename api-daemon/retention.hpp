// Retention: rows older than SMS_BRIDGE_RETENTION_DAYS leave the tables that grow with traffic
// (SMS log, login trail, spent codes, delivered outbox items), at start and then every hour. The
// doors' audit trail is kept.
#pragma once

#include <cstdint>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/database.hpp"

namespace smsbridge::api {

boost::asio::awaitable<void> apply_retention(database& db, std::uint32_t retention_days);

}  // namespace smsbridge::api
