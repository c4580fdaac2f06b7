// The admin gate: who is an admin (HTTP Basic for API clients, a session cookie plus CSRF token
// for browsers), and the login, session and logout endpoints.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/admin_store.hpp"
#include "api-daemon/basic_auth.hpp"
#include "api-daemon/http_router.hpp"
#include "api-daemon/trusted_proxies.hpp"

namespace smsbridge::api {

// Whether a request authenticated with HTTP Basic may change state: only reads, or a body
// declared as application/json (parameters allowed). Anything else is a 415 with nothing changed.
bool basic_request_may_change_state(http::verb method, std::string_view content_type);

// Whether a request opens a door, the requests a browser session must step up for (a fresh
// second-factor code): open-port, open-all and extend-port. Pure.
bool opens_a_door(std::string_view target);
// Whether a request only takes access away (logout, close-port, close-all): an enrolled admin
// makes it without a code, so that doors close also while PostgreSQL is down. Pure.
bool only_takes_access_away(std::string_view target);

// The second factor's rules (SMS_BRIDGE_REQUIRE_TOTP, SMS_BRIDGE_OTP_STEP_UP_MINUTES).
struct otp_policy {
  bool require_totp = false;           // an admin without a second factor may only read
  std::uint32_t step_up_minutes = 15;  // a session's code older than this is asked again to open a door; 0: always
};

using admin_handler = std::function<boost::asio::awaitable<http_response>(const http_request&, const request_context&,
                                                                          const std::string& admin)>;

class admin_gate {
 public:
  admin_gate(basic_auth& auth, admin_store& admins, const trusted_proxies& proxies, otp_policy policy = {})
      : auth_(auth), admins_(admins), proxies_(proxies), policy_(policy) {}

  // Wraps an admin endpoint: 401 (with WWW-Authenticate) unless valid Basic credentials come with
  // the request; 415 for a Basic state change that is not application/json; 403 for a session
  // state change without its CSRF token; 503 when logins cannot be checked or too many hashes are
  // waiting. The second factor, for an enrolled admin: a Basic state change needs a code in
  // X-Admin-OTP, and a session opening a door needs one (X-Admin-OTP or the body's "otp") when its
  // last is older than the step-up window; else 401 {"detail", "otp_required": true}. With
  // require_totp, a state change by an admin without one is a 401 saying how to enrol. Every
  // answer, refusals included, carries the admin security headers.
  handler require_admin(admin_handler inner);

  // POST /admin/login, GET /admin/session, POST /admin/logout.
  void add_routes(router& r);

  const trusted_proxies& proxies() const { return proxies_; }

 private:
  boost::asio::awaitable<http_response> login(const http_request& request, const request_context& context);
  // The second factor of a state-changing request, once the admin is known: nullopt to go on.
  boost::asio::awaitable<std::optional<http_response>> second_factor(const http_request& request, const request_context& context,
                                                                     std::string admin, bool enrolled,
                                                                     std::optional<session_record> session, std::string cookie,
                                                                     bool after_password);
  std::string session_cookie_header(const http_request& request, const request_context& context, std::string_view token,
                                    int max_age) const;

  basic_auth& auth_;
  admin_store& admins_;
  const trusted_proxies& proxies_;
  otp_policy policy_;
};

}  // namespace smsbridge::api
