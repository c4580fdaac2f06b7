// libFuzzer: a raw HTTP request as sms-bridge-api reads it — Beast's parser with the daemon's
// limits, then the route table, the query-string reader, the JSON body reader, the Basic
// credentials and session cookie parsers, and an error answer built from it.
#include <cstdint>
#include <string_view>

#include <boost/beast/http/parser.hpp>

#include "api-daemon/basic_auth.hpp"
#include "api-daemon/routes.hpp"
#include "api-daemon/sessions.hpp"

using namespace smsbridge::api;
namespace http = boost::beast::http;

namespace {
// The real public route table; nothing here ever runs a handler, so no database is needed.
struct world {
  api_config config;
  database db{"postgresql:///unused?host=/nonexistent"};
  worker helper_thread{1};
  basic_auth auth{db, {}};
  metrics stats;
  app a{config, db, helper_thread, auth, stats, [](std::string_view) {}, {}, {}, false, false};
  router routes;
  world() {
    config.hmac_secret = config.sms_api_key = "0123456789abcdef0123";
    routes = public_routes(a);
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static world w;
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(64 * 1024);
  boost::beast::error_code ec;
  std::size_t used = 0;
  while (used < size && !parser.is_done()) {
    const auto n = parser.put(boost::asio::buffer(data + used, size - used), ec);
    if (ec == http::error::need_more) ec = {};
    if (ec || n == 0) break;
    used += n;
  }
  if (ec || !parser.is_done()) return 0;
  const http_request request = parser.release();
  const std::string_view target(request.target().data(), request.target().size());
  (void)w.routes.find(request.method(), target);
  (void)target_path(target);
  for (const char* key : {"limit", "service", "action", "tail", "start", "duration_minutes"}) (void)query_parameter(target, key);
  (void)json_object_body(request);
  const auto authorization = request[http::field::authorization];
  (void)parse_basic_authorization(std::string_view(authorization.data(), authorization.size()));
  const auto cookie = request[http::field::cookie];
  (void)session_cookie(std::string_view(cookie.data(), cookie.size()));
  (void)error_response(request, http::status::bad_request, "A sentence.");
  return 0;
}
