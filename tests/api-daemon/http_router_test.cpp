// The route table: a known path with another verb is 405 (with Allow), an unknown path 404.
#include <catch2/catch.hpp>

#include "api-daemon/http_router.hpp"

using namespace smsbridge::api;

namespace {
boost::asio::awaitable<http_response> nothing(const http_request& r, const request_context&) {
  co_return error_response(r, http::status::ok, "");
}
}  // namespace

TEST_CASE("routes match on path and verb; the query string is ignored") {
  router r;
  r.add(http::verb::get, "/health", nothing);
  r.add(http::verb::post, "/admin/monitoring/open-port", nothing);
  r.add(http::verb::get, "/admin/monitoring/open-port", nothing);
  auto hit = r.find(http::verb::get, "/health?verbose=1");
  CHECK(hit.found != nullptr);
  auto wrong_verb = r.find(http::verb::delete_, "/admin/monitoring/open-port");
  CHECK(wrong_verb.found == nullptr);
  CHECK(wrong_verb.path_known);
  CHECK(wrong_verb.allowed == "POST, GET");
  auto unknown = r.find(http::verb::get, "/healthz");
  CHECK(unknown.found == nullptr);
  CHECK_FALSE(unknown.path_known);
  CHECK(r.routes().size() == 3);
}

TEST_CASE("errors are JSON {\"detail\": ...} with the request's keep-alive") {
  http_request req{http::verb::get, "/x", 11};
  req.keep_alive(true);
  auto res = error_response(req, http::status::not_found, "Not found.");
  CHECK(res.result() == http::status::not_found);
  CHECK(res.body() == R"({"detail":"Not found."})");
  CHECK(res[http::field::content_type] == "application/json");
  CHECK(res.keep_alive());
}

TEST_CASE("a wildcard route matches exactly one further path segment") {
  router r;
  r.add(http::verb::get, "/admin/monitoring/logs/download/*", nothing);
  auto hit = r.find(http::verb::get, "/admin/monitoring/logs/download/api.log?tail=5");
  CHECK(hit.found != nullptr);
  CHECK(hit.pattern == "/admin/monitoring/logs/download/*");
  CHECK(r.find(http::verb::get, "/admin/monitoring/logs/download/").found == nullptr);
  CHECK(r.find(http::verb::get, "/admin/monitoring/logs/download/../../etc/passwd").found == nullptr);
  CHECK(r.find(http::verb::get, "/admin/monitoring/logs/downloadx").found == nullptr);
}
