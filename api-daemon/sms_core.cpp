#include "api-daemon/sms_core.hpp"

#include <fmt/format.h>

namespace smsbridge::api {

register_outcome register_number(sms_tables& tables, const sms_settings& s, std::string_view secret, const register_request& r) {
  const auto refuse = [&](register_status status, const char* log_status, const char* why) {
    tables.log({"register", log_status, r.mobile, "", why});
    return register_outcome{status, {}, {}};
  };
  if (s.foreign_number_check && !number_in_countries(r.mobile, s.allowed_countries)) {
    return refuse(register_status::country_refused, "rejected", "country not allowed");
  }
  if (s.blacklist_check) {
    auto listed = tables.blacklisted(r.mobile);
    if (!listed) return {register_status::unavailable, {}, {}};
    if (*listed) return refuse(register_status::blacklisted, "rejected", "blacklisted");
  }
  auto recent = tables.codes_issued_within(r.mobile, s.count_window_seconds);
  if (!recent) return {register_status::unavailable, {}, {}};
  if (*recent >= s.count_threshold) return refuse(register_status::rate_limited, "rate_limited", "too many registrations");
  std::string code = onboarding_code(secret, r.mobile, r.now_unix, s.hash_length);
  auto issued = tables.issue_code(r.mobile, code, r.email, r.device_id, r.now_unix, s.ttl_hash_seconds);
  if (!issued) {
    // The same number registering twice within one second yields the same code: ask again.
    const bool twice = issued.error().kind == pg::error_kind::unique_violation;
    return {twice ? register_status::just_issued : register_status::unavailable, {}, {}};
  }
  tables.log({"register", "success", r.mobile, "", ""});
  return {register_status::issued, std::move(code), std::move(*issued)};
}

receive_outcome receive_sms(sms_tables& tables, const sms_settings& s, const receive_request& r) {
  const auto failed = [&](std::string check, std::string why) {
    tables.log({"receive", "failed", r.mobile, r.message_id, fmt::format("{}: {}", check, why)});
    return receive_outcome{receive_status::failed, std::move(check), std::move(why)};
  };
  const receive_outcome unavailable{receive_status::unavailable, {}, {}};
  const auto text = read_sms_text(r.message, s.allowed_prefix, s.hash_length);
  if (s.header_hash_check && !text.code) return failed("header_hash_check", text.problem);
  if (s.foreign_number_check && !number_in_countries(r.mobile, s.allowed_countries)) return failed("foreign_number_check", "country not allowed");
  if (s.count_check) {
    auto n = tables.messages_within(r.mobile, s.count_window_seconds);
    if (!n) return unavailable;
    if (*n >= s.count_threshold) return failed("count_check", "too many messages");
  }
  if (s.blacklist_check) {
    auto listed = tables.blacklisted(r.mobile);
    if (!listed) return unavailable;
    if (*listed) return failed("blacklist_check", "blacklisted");
  }
  if (!text.code) return failed("header_hash_check", text.problem);
  auto consumed = tables.consume_code(*text.code, r.mobile, r.message_id);
  if (!consumed) return unavailable;
  if (*consumed) return failed("code", **consumed);
  return {receive_status::received, {}, {}};
}

pin_status set_pin(sms_tables& tables, const std::string& mobile, const std::string& hash, const std::string& sealed_pin) {
  auto queued = tables.queue_account(mobile, hash, sealed_pin);
  if (!queued) return pin_status::unavailable;
  if (!*queued) {
    tables.log({"pin_setup", "rejected", mobile, "", "not verified or already used"});
    return pin_status::not_verified;
  }
  return pin_status::queued;
}

}  // namespace smsbridge::api
