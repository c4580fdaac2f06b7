// GET /admin/openapi.json: the embedded document, with the admin answers' security headers.
#include "api-daemon/openapi.hpp"

#include "api-daemon/web_ui.hpp"

namespace smsbridge::api {

void add_openapi_route(router& r) {
  r.add(http::verb::get, "/admin/openapi.json", [](const http_request& request, const request_context&) -> boost::asio::awaitable<http_response> {
    http_response answer{http::status::ok, request.version()};
    answer.set(http::field::content_type, "application/json");
    set_admin_security_headers(answer, false);
    answer.keep_alive(request.keep_alive());
    answer.body() = std::string(openapi_json());
    answer.prepare_payload();
    co_return answer;
  });
}

}  // namespace smsbridge::api
