// The SMS flow's decisions, apart from HTTP and PostgreSQL: register a number, receive its SMS,
// set its PIN. Each returns a domain outcome; the HTTP answer and the metrics are both derived
// from it (sms_public.cpp). The tables are reached through sms_tables, one method per query, so
// the decisions run against a fake in the unit tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api-daemon/pg.hpp"
#include "api-daemon/sms_rules.hpp"

namespace smsbridge::api {

// One row of sms_bridge_logs. The number is masked and keyed by the store, never stored plain.
struct sms_log_entry {
  std::string event;   // register | receive | pin_setup
  std::string status;  // success | rejected | rate_limited | failed | received
  std::string mobile;
  std::string message_id;
  std::string detail;
};

struct issued_code {
  std::string generated_at, deadline;  // ISO 8601 UTC, from the database
};

// The tables of the SMS flow, on one connection (a database thread). A method that changes more
// than one row does it in one transaction, and logs its success inside it.
class sms_tables {
 public:
  virtual ~sms_tables() = default;
  virtual pg::db_result<bool> blacklisted(const std::string& mobile) = 0;
  virtual pg::db_result<std::int64_t> codes_issued_within(const std::string& mobile, std::int64_t seconds) = 0;
  // Fails with unique_violation when the same code was issued already (same number, same second).
  virtual pg::db_result<issued_code> issue_code(const std::string& mobile, const std::string& code,
                                                const std::optional<std::string>& email,
                                                const std::optional<std::string>& device_id, std::int64_t now_unix,
                                                std::int64_t ttl_seconds) = 0;
  virtual pg::db_result<std::int64_t> messages_within(const std::string& mobile, std::int64_t seconds) = 0;
  // Consumes the code for the number that registered it, verifies the number and logs "received",
  // in one transaction. nullopt when done; otherwise why not (nothing changed).
  virtual pg::db_result<std::optional<std::string>> consume_code(const std::string& code, const std::string& mobile,
                                                                 const std::string& message_id) = 0;
  // Consumes the verification and queues the account with its sealed PIN for the backend, in one
  // transaction. False (nothing changed) when the number is not verified with this hash, or its
  // PIN was already set.
  virtual pg::db_result<bool> queue_account(const std::string& mobile, const std::string& hash, const std::string& sealed_pin) = 0;
  // A refusal's row; its failure is not worth failing the answer for.
  virtual void log(const sms_log_entry& entry) = 0;
};

enum class register_status { issued, country_refused, blacklisted, rate_limited, just_issued, unavailable };
struct register_request {
  std::string mobile;
  std::optional<std::string> email, device_id;
  std::int64_t now_unix = 0;
};
struct register_outcome {
  register_status status = register_status::unavailable;
  std::string code;
  issued_code issued;
};
register_outcome register_number(sms_tables& tables, const sms_settings& settings, std::string_view secret,
                                 const register_request& request);

enum class receive_status { received, failed, unavailable };
struct receive_request {
  std::string mobile, message;
  std::string message_id;  // chosen by the caller (random), echoed to the gateway
};
struct receive_outcome {
  receive_status status = receive_status::unavailable;
  std::string check, reason;  // when failed: which check, and why
};
// A check that cannot ask the database fails closed: the SMS is not let through unchecked.
receive_outcome receive_sms(sms_tables& tables, const sms_settings& settings, const receive_request& request);

enum class pin_status { queued, not_verified, unavailable };
pin_status set_pin(sms_tables& tables, const std::string& mobile, const std::string& hash, const std::string& sealed_pin);

}  // namespace smsbridge::api
