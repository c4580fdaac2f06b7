// The admin gate: who is an admin (HTTP Basic for API clients, a session cookie plus CSRF token
// for browsers), and the login, session and logout endpoints.
#pragma once

#include <functional>
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

using admin_handler = std::function<boost::asio::awaitable<http_response>(const http_request&, const request_context&,
                                                                          const std::string& admin)>;

class admin_gate {
 public:
  admin_gate(basic_auth& auth, admin_store& admins, const trusted_proxies& proxies) : auth_(auth), admins_(admins), proxies_(proxies) {}

  // Wraps an admin endpoint: 401 (with WWW-Authenticate) unless valid Basic credentials come with
  // the request; 415 for a Basic state change that is not application/json; 403 for a session
  // state change without its CSRF token; 503 when logins cannot be checked or too many hashes are
  // waiting. Every answer, refusals included, carries the admin security headers.
  handler require_admin(admin_handler inner);

  // POST /admin/login, GET /admin/session, POST /admin/logout.
  void add_routes(router& r);

  const trusted_proxies& proxies() const { return proxies_; }

 private:
  boost::asio::awaitable<http_response> login(const http_request& request, const request_context& context);
  std::string session_cookie_header(const http_request& request, const request_context& context, std::string_view token,
                                    int max_age) const;

  basic_auth& auth_;
  admin_store& admins_;
  const trusted_proxies& proxies_;
};

}  // namespace smsbridge::api
