// The public SMS API: POST /onboarding/register, /sms/receive and /pin-setup. Input is checked
// here; the decisions are sms_core's; the answer and the metrics both follow from its outcome.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "api-daemon/http_router.hpp"
#include "api-daemon/metrics.hpp"
#include "api-daemon/settings_source.hpp"
#include "api-daemon/sms_store.hpp"
#include "api-daemon/source_rate_limiter.hpp"
#include "api-daemon/trusted_proxies.hpp"

namespace smsbridge::api {

struct sms_api_context {
  sms_store& store;
  settings_source& settings;
  const trusted_proxies& proxies;
  metrics& stats;
  std::string hmac_secret;
  std::string sms_api_key;
  std::uint32_t requests_per_source = 60;  // registrations, and PIN setups, per address per 10 minutes
};

// The HTTP answers of each outcome (pure).
http_response register_answer(const http_request& request, const register_outcome& outcome, const sms_settings& settings);
http_response receive_answer(const http_request& request, const receive_outcome& outcome, const std::string& message_id);
http_response pin_answer(const http_request& request, pin_status outcome);

void add_sms_public_routes(router& r, sms_api_context& context);

}  // namespace smsbridge::api
