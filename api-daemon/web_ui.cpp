#include "api-daemon/web_ui.hpp"

namespace smsbridge::api {

namespace http = boost::beast::http;

void set_admin_security_headers(http_response& response, bool html) {
  response.set(http::field::cache_control, "no-store");
  response.set(http::field::x_frame_options, "DENY");
  response.set("Referrer-Policy", "no-referrer");
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Content-Security-Policy",
               html ? "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
                      "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
                    : "default-src 'none'; frame-ancestors 'none'");
}

namespace {

handler serve_asset(const web_asset& asset) {
  return [&asset](const http_request& request, const request_context&) -> boost::asio::awaitable<http_response> {
    http_response r{http::status::ok, request.version()};
    r.set(http::field::content_type, asset.content_type);
    set_admin_security_headers(r, true);
    r.keep_alive(request.keep_alive());
    r.body() = std::string(asset.body);
    r.prepare_payload();
    co_return r;
  };
}

}  // namespace

void add_web_ui_routes(router& r) {
  for (const auto& asset : web_assets()) {
    if (asset.name == "index.html") {
      r.add(http::verb::get, "/admin", serve_asset(asset));
      r.add(http::verb::get, "/admin/", serve_asset(asset));
    } else {
      r.add(http::verb::get, "/admin/assets/" + std::string(asset.name), serve_asset(asset));
    }
  }
}

}  // namespace smsbridge::api
