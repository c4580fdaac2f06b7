// The doors' audit trail in PostgreSQL as the api sees it: one asynchronous method per query, a
// PostgreSQL implementation, and (in the tests) a fake.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/database.hpp"
#include "api-daemon/notifications.hpp"
#include "firewall.pb.h"

namespace smsbridge::api {

// ?limit=N and ?service=NAME of the audit endpoints, already checked.
struct audit_filter {
  std::int64_t limit = 50;
  std::optional<std::string> service;
};

class audit_store {
 public:
  virtual ~audit_store() = default;
  // Records a batch of `server`'s helper's events in one transaction, each at most once (the
  // server and its helper_seq; "" is a server with no name, NULL in the trail):
  // opens, extensions and closes through record_port_opened / _extended / _closed, drift and corruption
  // reports as firewall_incidents; and, in the same transaction, the notifications they cause
  // (`notifications`, planned by plan_notifications), so none is lost or queued twice.
  virtual boost::asio::awaitable<pg::db_result<void>> record(std::string server, std::vector<firewall::v1::Event> events,
                                                             notification_plan notifications) = 0;
  // Closes in the trail every door of `server` (or of no server) it shows open whose grant is not
  // in `live` (system-reconcile); how many. Other servers' doors are left to them.
  virtual boost::asio::awaitable<pg::db_result<int>> close_orphans(std::string server, std::vector<std::string> live) = 0;
  // One entry per door (its open, its extensions and its close), newest first, as a JSON array.
  virtual boost::asio::awaitable<pg::db_result<std::string>> history_json(audit_filter filter) = 0;
  // One entry per recorded action (opened, extended, closed, expired), newest first, as a JSON array.
  virtual boost::asio::awaitable<pg::db_result<std::string>> actions_json(audit_filter filter, std::optional<std::string> action) = 0;
};

class pg_audit_store final : public audit_store {
 public:
  explicit pg_audit_store(database& db) : db_(db) {}
  boost::asio::awaitable<pg::db_result<void>> record(std::string server, std::vector<firewall::v1::Event> events,
                                                     notification_plan notifications) override;
  boost::asio::awaitable<pg::db_result<int>> close_orphans(std::string server, std::vector<std::string> live) override;
  boost::asio::awaitable<pg::db_result<std::string>> history_json(audit_filter filter) override;
  boost::asio::awaitable<pg::db_result<std::string>> actions_json(audit_filter filter, std::optional<std::string> action) override;

 private:
  database& db_;
};

}  // namespace smsbridge::api
