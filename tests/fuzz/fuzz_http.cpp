// libFuzzer: a raw HTTP request as sms-bridge-api reads it — its request_reader (bounded buffer,
// Beast's parser with the daemon's limits, chunk-extension budget) and the answer to a refusal,
// then the route table, the query-string reader, the JSON body reader, the Basic credentials and
// session cookie parsers, and an error answer built from it.
#include <cstdint>
#include <string_view>

#include <boost/beast/http/error.hpp>

#include <boost/asio/io_context.hpp>

#include "api-daemon/basic_auth.hpp"
#include "api-daemon/firewall_socket_client.hpp"
#include "api-daemon/http_request_reader.hpp"
#include "api-daemon/routes.hpp"
#include "api-daemon/sessions.hpp"

using namespace smsbridge::api;
namespace http = boost::beast::http;

namespace {
// The real public route table, built from the daemon's own parts; nothing here ever runs a
// handler, so no database or helper is needed.
struct world {
  api_config config;
  boost::asio::io_context io;
  database db{"postgresql:///unused?host=/nonexistent"};
  socket_firewall_client helper{io.get_executor(), "/nonexistent/firewall.sock"};
  pg_admin_store admins{db};
  pg_audit_store trail{db};
  pg_outbox_store outbox{db, "0123456789abcdef0123"};
  pg_sms_store sms_store{db, "0123456789abcdef0123"};
  https_backend backend{"0123456789abcdef0123", ""};
  settings_source settings{"/nonexistent/sms_settings.json"};
  trusted_proxies proxies{{}};
  basic_auth auth{admins, {}};
  admin_gate gate{auth, admins, proxies};
  metrics stats;
  health_monitor health{helper, outbox};
  audit_drain audit{helper, trail, stats};
  sms_api_context sms{sms_store, settings, proxies, stats, "0123456789abcdef0123", "0123456789abcdef0123", 60};
  server_address_source address{"auto", helper};
  monitoring_context monitoring{config, helper, settings, audit, trail, gate, address};
  metrics_history history{history_config{0, 60, ""}};
  route_parts parts{config, gate, health, helper, stats, sms, backend, monitoring, history};
  router routes;
  world() {
    config.hmac_secret = config.sms_api_key = "0123456789abcdef0123";
    routes = public_routes(parts);
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static world w;
  request_reader reader(http_limits{});
  const auto ec = reader.feed(std::string_view(reinterpret_cast<const char*>(data), size));
  if (ec) {
    if (ec != http::error::need_more) (void)reader.refusal(ec);
    return 0;
  }
  const http_request request = reader.parser().release();
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
