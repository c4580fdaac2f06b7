// The api-daemon's endpoints. Handlers validate input and answer; blocking work runs on the
// database thread.
#include "api-daemon/routes.hpp"

#include <chrono>

#include <boost/json/object.hpp>

#include "proto/helper_client.hpp"

namespace smsbridge::api {

namespace {
// Is the firewall helper answering? A Status round trip with a short timeout.
pg::db_result<bool> helper_answers(const std::string& socket_path) {
  auto client = firewall::helper_client::connect(socket_path, std::chrono::seconds(2));
  if (!client) return false;
  firewall::v1::Request status;
  status.mutable_status();
  auto r = client->call(status);
  return r && !r->has_error();
}
}  // namespace

handler health_endpoint(app_context& app) {
  return [&app](const http_request& request) -> boost::asio::awaitable<http_response> {
    // Every argument of a co_await is a named local: see database::call.
    const auto select_one = [](pg::connection& c) -> pg::db_result<bool> {
      auto r = c.exec("SELECT 1");
      if (!r) return r.error();
      return true;
    };
    auto db_check = app.db.call(select_one);
    const auto db = co_await std::move(db_check);
    // The helper check is blocking I/O too: it runs on the database thread, after the query.
    const auto ask_helper = [socket = app.config.firewall_socket] { return helper_answers(socket); };
    auto helper_check = app.db.run(ask_helper);
    const auto helper = co_await std::move(helper_check);
    const bool db_up = db.has_value();
    const bool helper_up = helper.has_value() && *helper;
    boost::json::object body{{"status", db_up && helper_up ? "ok" : "degraded"},
                             {"database", db_up ? "up" : "down"},
                             {"firewall_helper", helper_up ? "up" : "down"},
                             {"version", SMS_BRIDGE_VERSION}};
    co_return json_response(request, db_up ? http::status::ok : http::status::service_unavailable, body);
  };
}

router public_routes(app_context& app) {
  router r;
  r.add(http::verb::get, "/health", health_endpoint(app));
  return r;
}

router metrics_routes(app_context& app) {
  router r;
  r.add(http::verb::get, "/health", health_endpoint(app));
  return r;
}

}  // namespace smsbridge::api
