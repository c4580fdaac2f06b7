#include "api-daemon/admin_gate.hpp"

#include <cctype>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <fmt/format.h>

#include "api-daemon/crypto.hpp"
#include "api-daemon/sessions.hpp"
#include "api-daemon/web_ui.hpp"

namespace smsbridge::api {

namespace {
bool state_changing(http::verb v) { return v != http::verb::get && v != http::verb::head && v != http::verb::options; }

std::string_view header(const http_request& request, http::field f) {
  const auto v = request[f];
  return {v.data(), v.size()};
}

http_response refused_login(const http_request& request, const auth_result& verdict) {
  switch (verdict.outcome) {
    case auth_outcome::throttled: {
      auto r = error_response(request, http::status::too_many_requests, "Too many failed logins; try again later.");
      r.set(http::field::retry_after, std::to_string(verdict.retry_after));
      return r;
    }
    case auth_outcome::busy:
      return error_response(request, http::status::service_unavailable, "Too many logins are being checked; try again.");
    case auth_outcome::unavailable:
      return error_response(request, http::status::service_unavailable, "Logins cannot be checked right now.");
    default: {
      auto r = error_response(request, http::status::unauthorized, "Valid admin credentials are required.");
      // The admin UI marks its calls: a Basic challenge would make the browser pop up its own
      // password dialog instead of letting the page show its login form.
      if (request["X-Requested-With"] != "sms-bridge-admin-ui") {
        r.set(http::field::www_authenticate, R"(Basic realm="SMS Bridge admin", charset="UTF-8")");
      }
      return r;
    }
  }
}
// 401 for a missing or refused second-factor code: a sentence, and otp_required so that a client
// (the UI, the laptop script) knows to ask for a code. No WWW-Authenticate: the password was right.
http_response otp_required(const http_request& request, std::string_view sentence) {
  return json_response(request, http::status::unauthorized, boost::json::object{{"detail", sentence}, {"otp_required", true}});
}

http_response refused_otp(const http_request& request, const otp_result& verdict) {
  switch (verdict.outcome) {
    case otp_outcome::throttled: {
      auto r = error_response(request, http::status::too_many_requests, "Too many failed logins; try again later.");
      r.set(http::field::retry_after, std::to_string(verdict.retry_after));
      return r;
    }
    case otp_outcome::unavailable:
      return error_response(request, http::status::service_unavailable, "One-time codes cannot be checked right now.");
    default:
      return otp_required(request, "Wrong or already used one-time code; wait for the next code, or use a recovery code.");
  }
}

http_response totp_not_enrolled(const http_request& request, std::string_view admin) {
  return error_response(request, http::status::unauthorized,
                        fmt::format("This server requires a second factor and admin '{}' has none; enrol it with: "
                                    "sms-bridge-api admin totp enable {}",
                                    admin, admin));
}

// The code a request carries: X-Admin-OTP, else (for a session's door) the JSON body's "otp".
std::string otp_of(const http_request& request, bool body_too) {
  const auto h = request["X-Admin-OTP"];
  std::string otp(h.data(), h.size());
  if (otp.empty() && body_too) {
    boost::system::error_code ec;
    const auto body = boost::json::parse(request.body(), ec);
    if (!ec && body.is_object()) {
      if (const auto* o = body.as_object().if_contains("otp"); o && o->is_string()) otp = std::string(o->as_string());
    }
  }
  while (!otp.empty() && otp.back() == ' ') otp.pop_back();
  while (!otp.empty() && otp.front() == ' ') otp.erase(0, 1);
  return otp;
}
}  // namespace

bool opens_a_door(std::string_view target) {
  const auto path = target_path(target);
  return path == "/admin/monitoring/open-port" || path == "/admin/monitoring/open-all" || path == "/admin/monitoring/extend-port";
}

bool only_takes_access_away(std::string_view target) {
  const auto path = target_path(target);
  return path == "/admin/logout" || path == "/admin/monitoring/close-port" || path == "/admin/monitoring/close-all";
}

boost::asio::awaitable<std::optional<http_response>> admin_gate::second_factor(const http_request& request,
                                                                              const request_context& context, std::string admin,
                                                                              bool enrolled, std::optional<session_record> session,
                                                                              std::string cookie, bool after_password) {
  if (!state_changing(request.method()) || target_path(request.target()) == "/admin/logout") co_return std::nullopt;
  if (!enrolled) {
    if (policy_.require_totp) co_return totp_not_enrolled(request, admin);
    co_return std::nullopt;
  }
  // Closing a door only takes access away, and must work while PostgreSQL, which checks codes,
  // is down (a cached Basic login still closes doors then).
  if (only_takes_access_away(request.target())) co_return std::nullopt;
  if (session) {
    // A browser session gave a code at login; it gives one again to open a door once that is old.
    // A session with no code at all (begun while its admin was enrolling) gives one for any change.
    const bool fresh = session->otp_age_seconds && *session->otp_age_seconds < std::int64_t{policy_.step_up_minutes} * 60;
    const bool ever_gave_one = session->otp_age_seconds.has_value();
    if (fresh || (ever_gave_one && !opens_a_door(request.target()))) co_return std::nullopt;
  }
  const std::string otp = otp_of(request, session.has_value());
  if (otp.empty()) {
    co_return otp_required(request, session ? "Opening a door needs a fresh one-time code from your authenticator app."
                                            : "This admin has a second factor: send the current one-time code (or a recovery "
                                              "code) in the X-Admin-OTP header.");
  }
  auto check = auth_.verify_otp(admin, otp, proxies_.client_address(request, context), after_password);
  const auto verdict = co_await std::move(check);
  if (verdict.outcome != otp_outcome::ok) co_return refused_otp(request, verdict);
  if (session) {
    auto mark = admins_.mark_session_otp(cookie);
    (void)co_await std::move(mark);  // if not recorded, the next door asks again: no harm
  }
  co_return std::nullopt;
}

bool basic_request_may_change_state(http::verb method, std::string_view content_type) {
  if (!state_changing(method)) return true;
  // An allow-list, not a deny-list: a cross-site fetch() in no-cors mode can send a Blob body with
  // no Content-Type at all, and a browser attaches its cached Basic login to it. Only
  // application/json needs a CORS preflight, which a cross-site page cannot pass.
  const auto semi = content_type.find(';');
  auto type = content_type.substr(0, semi);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  constexpr std::string_view json = "application/json";
  if (type.size() != json.size()) return false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(type[i])) != json[i]) return false;
  }
  return true;
}

std::string admin_gate::session_cookie_header(const http_request& request, const request_context& context, std::string_view token,
                                              int max_age) const {
  return fmt::format("{}={}; Path=/admin; Max-Age={}; HttpOnly; SameSite=Strict{}", session_cookie_name, token, max_age,
                     proxies_.over_https(request, context) ? "; Secure" : "");
}

handler admin_gate::require_admin(admin_handler inner) {
  handler gated = [this, inner = std::move(inner)](const http_request& request,
                                                   const request_context& context) -> boost::asio::awaitable<http_response> {
    const auto authorization = header(request, http::field::authorization);
    const auto cookie = session_cookie(header(request, http::field::cookie));
    std::string admin;
    if (!authorization.empty() || !cookie) {
      // API clients: HTTP Basic.
      auto check = auth_.check(authorization, proxies_.client_address(request, context));
      const auto verdict = co_await std::move(check);
      if (verdict.outcome != auth_outcome::ok) co_return refused_login(request, verdict);
      if (!basic_request_may_change_state(request.method(), header(request, http::field::content_type))) {
        co_return error_response(request, http::status::unsupported_media_type,
                                 "Send state-changing requests with Content-Type: application/json.");
      }
      admin = verdict.admin;
      auto factor = second_factor(request, context, admin, verdict.totp_enrolled, std::nullopt, {}, verdict.password_checked);
      if (auto refusal = co_await std::move(factor)) co_return std::move(*refusal);
    } else {
      // Browsers: the session cookie, and the CSRF token for every state-changing request.
      auto lookup = admins_.find_session(*cookie);
      const auto session = co_await std::move(lookup);
      if (!session) co_return error_response(request, http::status::service_unavailable, "Logins cannot be checked right now.");
      if (!*session) co_return refused_login(request, auth_result{});
      const auto csrf = request["X-CSRF-Token"];
      if (state_changing(request.method()) && !constant_time_equal(std::string_view(csrf.data(), csrf.size()), (*session)->csrf_token)) {
        co_return error_response(request, http::status::forbidden, "A valid CSRF token is required.");
      }
      admin = (*session)->username;
      auto factor = second_factor(request, context, admin, (*session)->totp_enrolled, **session, *cookie, false);
      if (auto refusal = co_await std::move(factor)) co_return std::move(*refusal);
    }
    auto answer = inner(request, context, admin);
    co_return co_await std::move(answer);
  };
  return [gated = std::move(gated)](const http_request& request,
                                    const request_context& context) -> boost::asio::awaitable<http_response> {
    auto answer = gated(request, context);
    auto response = co_await std::move(answer);
    set_admin_security_headers(response, false);
    co_return response;
  };
}

// POST /admin/login {username, password, otp?} (JSON or a form): a session cookie and a CSRF token.
boost::asio::awaitable<http_response> admin_gate::login(const http_request& request, const request_context& context) {
  std::string user, password, otp;
  if (header(request, http::field::content_type).starts_with("application/x-www-form-urlencoded")) {
    std::string query = "?";
    query += request.body();
    // A browser's form encodes a space as '+' and other bytes as %XX.
    user = form_decode(query_parameter(query, "username").value_or("")).value_or("");
    password = form_decode(query_parameter(query, "password").value_or("")).value_or("");
    otp = form_decode(query_parameter(query, "otp").value_or("")).value_or("");
  } else {
    boost::system::error_code ec;
    const auto body = boost::json::parse(request.body(), ec);
    const auto* object = !ec && body.is_object() ? &body.as_object() : nullptr;
    const auto* u = object ? object->if_contains("username") : nullptr;
    const auto* p = object ? object->if_contains("password") : nullptr;
    if (!u || !p || !u->is_string() || !p->is_string()) {
      co_return error_response(request, http::status::unprocessable_entity, "Send {\"username\": ..., \"password\": ...}.");
    }
    user = std::string(u->as_string());
    password = std::string(p->as_string());
    if (const auto* o = object->if_contains("otp"); o && o->is_string()) otp = std::string(o->as_string());
  }
  while (!otp.empty() && otp.back() == ' ') otp.pop_back();
  while (!otp.empty() && otp.front() == ' ') otp.erase(0, 1);
  auto check = auth_.login(user, password, proxies_.client_address(request, context));
  const auto verdict = co_await std::move(check);
  if (verdict.outcome != auth_outcome::ok) {
    auto refused = refused_login(request, verdict);
    refused.erase(http::field::www_authenticate);  // a form login must not pop up the browser's Basic dialog
    if (verdict.outcome == auth_outcome::denied) refused.body() = R"({"detail":"Wrong user name or password."})", refused.prepare_payload();
    co_return refused;
  }
  if (verdict.totp_enrolled) {
    if (otp.empty()) {
      auto r = otp_required(request, "This admin has a second factor: enter the current code from your authenticator app, or a recovery code.");
      set_admin_security_headers(r, false);
      co_return r;
    }
    auto check_otp = auth_.verify_otp(verdict.admin, otp, proxies_.client_address(request, context), true);
    const auto otp_verdict = co_await std::move(check_otp);
    if (otp_verdict.outcome != otp_outcome::ok) {
      auto r = refused_otp(request, otp_verdict);
      set_admin_security_headers(r, false);
      co_return r;
    }
  } else if (policy_.require_totp) {
    auto r = totp_not_enrolled(request, verdict.admin);
    set_admin_security_headers(r, false);
    co_return r;
  }
  auto create = admins_.create_session(verdict.admin, verdict.password_version, verdict.totp_enrolled);
  const auto session = co_await std::move(create);
  if (!session) co_return error_response(request, http::status::service_unavailable, "Logins cannot be recorded right now.");
  auto r = json_response(request, http::status::ok,
                         boost::json::object{{"status", "ok"}, {"username", verdict.admin},
                                             {"csrf_token", session->csrf_token}, {"expires_at", session->expires_at}});
  r.set(http::field::set_cookie, session_cookie_header(request, context, session->token, session_lifetime_seconds));
  set_admin_security_headers(r, false);
  co_return r;
}

void admin_gate::add_routes(router& r) {
  r.add(http::verb::post, "/admin/login", [this](const http_request& request, const request_context& context) {
    return login(request, context);
  });
  // Who is logged in, the address the server sees (the UI's default door source) and, for a
  // browser session, its CSRF token, so a reloaded page can keep working without a new login.
  r.add(http::verb::get, "/admin/session",
        require_admin([this](const http_request& request, const request_context& context,
                             const std::string& admin) -> boost::asio::awaitable<http_response> {
          boost::json::object body{{"username", admin}, {"client_address", proxies_.client_address(request, context)}};
          const auto cookie = session_cookie(header(request, http::field::cookie));
          if (cookie && request[http::field::authorization].empty()) {
            auto lookup = admins_.find_session(*cookie);
            const auto session = co_await std::move(lookup);
            if (session && *session) body["csrf_token"] = (*session)->csrf_token;
          }
          co_return json_response(request, http::status::ok, body);
        }));
  r.add(http::verb::post, "/admin/logout",
        require_admin([this](const http_request& request, const request_context& context,
                             const std::string&) -> boost::asio::awaitable<http_response> {
          if (const auto cookie = session_cookie(header(request, http::field::cookie))) {
            auto remove = admins_.delete_session(*cookie);
            (void)co_await std::move(remove);
          }
          auto answer = json_response(request, http::status::ok, boost::json::object{{"status", "logged_out"}});
          answer.set(http::field::set_cookie, session_cookie_header(request, context, "", 0));
          co_return answer;
        }));
}

}  // namespace smsbridge::api
