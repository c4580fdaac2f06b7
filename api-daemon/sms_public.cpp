#include "api-daemon/sms_public.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

#include <boost/json/object.hpp>

#include "api-daemon/crypto.hpp"
#include "common/log.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;

std::optional<std::string> string_field(const json::object& o, const char* key, std::size_t max) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string() || v->as_string().size() > max) return std::nullopt;
  return std::string(v->as_string());
}

http_response over_budget(const http_request& request, long retry_after, std::string_view sentence) {
  auto r = error_response(request, http::status::too_many_requests, sentence);
  r.set(http::field::retry_after, std::to_string(retry_after));
  return r;
}

http_response settings_unreadable(const http_request& request) {
  return error_response(request, http::status::internal_server_error, "The settings file cannot be read.");
}

// The settings, or nullopt after logging why they cannot be read.
std::optional<sms_settings> current_settings(sms_api_context& c) {
  auto s = c.settings.sms();
  if (!s) {
    log::error("{}", s.error().message);
    return std::nullopt;
  }
  return std::move(*s);
}

const char* onboarding_label(register_status s) {
  switch (s) {
    case register_status::issued: return "success";
    case register_status::rate_limited:
    case register_status::just_issued: return "rate_limited";
    default: return "rejected";
  }
}
}  // namespace

http_response register_answer(const http_request& request, const register_outcome& o, const sms_settings& s) {
  switch (o.status) {
    case register_status::issued:
      return json_response(request, http::status::ok,
                           json::object{{"status", "success"},
                                        {"sms_receiving_number", s.sms_receiver_number},
                                        {"hash", o.code},
                                        {"generated_at", o.issued.generated_at},
                                        {"user_deadline", o.issued.deadline},
                                        {"user_timelimit_seconds", s.ttl_hash_seconds}});
    case register_status::country_refused:
      return error_response(request, http::status::forbidden, "Numbers from this country cannot register.");
    case register_status::blacklisted:
      return error_response(request, http::status::forbidden, "This number cannot register.");
    case register_status::rate_limited:
      return error_response(request, http::status::too_many_requests, "Too many registrations for this number; try again later.");
    case register_status::just_issued:
      return error_response(request, http::status::too_many_requests, "A code was just issued for this number; try again in a second.");
    case register_status::unavailable:
      break;
  }
  return error_response(request, http::status::service_unavailable, "Registration is not available right now.");
}

http_response receive_answer(const http_request& request, const receive_outcome& o, const std::string& message_id) {
  switch (o.status) {
    case receive_status::received:
      return json_response(request, http::status::ok, json::object{{"status", "received"}, {"message_id", message_id}});
    case receive_status::failed:
      // 200: the gateway delivered the SMS; that it failed a check is the content of the answer.
      return json_response(request, http::status::ok,
                           json::object{{"status", "failed"}, {"message_id", message_id}, {"check", o.check}, {"reason", o.reason}});
    case receive_status::unavailable:
      break;
  }
  return error_response(request, http::status::service_unavailable, "SMS cannot be processed right now.");
}

http_response pin_answer(const http_request& request, pin_status outcome) {
  switch (outcome) {
    case pin_status::queued:
      return json_response(request, http::status::ok,
                           json::object{{"status", "success"}, {"message", "The account is queued for delivery to the backend."}});
    case pin_status::not_verified:
      return error_response(request, http::status::conflict, "This number is not verified with this hash, or its PIN was already set.");
    case pin_status::unavailable:
      break;
  }
  return error_response(request, http::status::service_unavailable, "PIN setup is not available right now.");
}

void add_sms_public_routes(router& r, sms_api_context& c) {
  // Unauthenticated endpoints that write rows get a budget per source address (IPv6 per /64),
  // checked before anything else but after the input: one address cannot fill the tables, and
  // malformed requests cost nothing and say why. Loopback (a local client, or a proxy not named
  // in TRUSTED_PROXIES) is exempt.
  source_rate_limiter::limits budget;
  budget.requests = c.requests_per_source;
  auto register_budget = std::make_shared<source_rate_limiter>(budget);
  auto pin_budget = std::make_shared<source_rate_limiter>(budget);

  r.add(http::verb::post, "/onboarding/register", [&c, register_budget](const http_request& request, const request_context& context)
                                                       -> boost::asio::awaitable<http_response> {
    auto body = json_object_body(request);
    if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
    auto mobile = string_field(*body, "mobile_number", 16);
    if (!mobile || !is_e164(*mobile)) {
      co_return error_response(request, http::status::bad_request, "mobile_number must be an E.164 number such as +919876543210.");
    }
    auto email = string_field(*body, "email", 254);
    auto device_id = string_field(*body, "device_id", 128);
    if ((body->contains("email") && !email) || (body->contains("device_id") && !device_id)) {
      co_return error_response(request, http::status::bad_request, "email and device_id must be strings (at most 254 and 128 characters).");
    }
    auto settings = current_settings(c);
    if (!settings) co_return settings_unreadable(request);
    if (const long wait = register_budget->admit(c.proxies.client_address(request, context), std::chrono::steady_clock::now()); wait > 0) {
      co_return over_budget(request, wait, "Too many registrations from your address; try again later.");
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto step = c.store.register_number(*settings, register_request{*mobile, email, device_id, now});
    const auto outcome = co_await std::move(step);
    const register_outcome o = outcome ? *outcome : register_outcome{};
    if (o.status != register_status::unavailable) c.stats.onboarding(onboarding_label(o.status));
    if (o.status == register_status::rate_limited || o.status == register_status::just_issued) c.stats.rate_limited();
    co_return register_answer(request, o, *settings);
  });

  r.add(http::verb::post, "/sms/receive", [&c](const http_request& request, const request_context&) -> boost::asio::awaitable<http_response> {
    // The gateway's key: X-API-Key, or ?apiKey= for gateways that can only do that. Never logged.
    auto header = request["X-API-Key"];
    std::string key(header.data(), header.size());
    if (key.empty()) key = query_parameter(std::string_view(request.target().data(), request.target().size()), "apiKey").value_or("");
    if (key.empty() || !constant_time_equal(key, c.sms_api_key)) {
      co_return error_response(request, http::status::unauthorized, "A valid API key is required.");
    }
    auto body = json_object_body(request);
    if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
    auto mobile = string_field(*body, "mobile_number", 16);
    auto message = string_field(*body, "message", 1600);
    if (!mobile || !is_e164(*mobile) || !message) {
      co_return error_response(request, http::status::bad_request, "Send mobile_number (E.164), message and received_at.");
    }
    auto settings = current_settings(c);
    if (!settings) co_return settings_unreadable(request);
    const std::string message_id = to_hex(random_bytes(12));
    auto step = c.store.receive_sms(*settings, receive_request{*mobile, *message, message_id});
    const auto outcome = co_await std::move(step);
    const receive_outcome o = outcome ? *outcome : receive_outcome{};
    if (o.status != receive_status::unavailable) c.stats.sms_received(o.status == receive_status::received ? "received" : "failed");
    if (o.status == receive_status::failed) c.stats.validation_failure(o.check);
    co_return receive_answer(request, o, message_id);
  });

  r.add(http::verb::post, "/pin-setup", [&c, pin_budget](const http_request& request, const request_context& context)
                                             -> boost::asio::awaitable<http_response> {
    auto body = json_object_body(request);
    if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
    auto mobile = string_field(*body, "mobile_number", 16);
    auto pin = string_field(*body, "pin", 8);
    auto hash = string_field(*body, "hash", 32);
    if (!mobile || !is_e164(*mobile) || !hash || hash->empty()) {
      co_return error_response(request, http::status::bad_request, "Send mobile_number (E.164), pin and hash.");
    }
    if (!pin || pin->size() < 4 || !std::all_of(pin->begin(), pin->end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      co_return error_response(request, http::status::unprocessable_entity, "The PIN must be 4 to 8 digits.");
    }
    if (const long wait = pin_budget->admit(c.proxies.client_address(request, context), std::chrono::steady_clock::now()); wait > 0) {
      co_return over_budget(request, wait, "Too many PIN setups from your address; try again later.");
    }
    // Sealed before it leaves this thread: the database only ever holds the PIN encrypted.
    auto step = c.store.set_pin(*mobile, *hash, seal_secret(c.hmac_secret, *pin));
    const auto outcome = co_await std::move(step);
    const pin_status o = outcome ? *outcome : pin_status::unavailable;
    if (o != pin_status::unavailable) c.stats.pin_collected(o == pin_status::queued ? "success" : "rejected");
    co_return pin_answer(request, o);
  });
}

}  // namespace smsbridge::api
