// Routing of HTTP requests: one table keyed by path and verb, so 404 and 405 differ. No I/O.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace smsbridge::api {

namespace http = boost::beast::http;
using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;

// A JSON answer; keep-alive and version follow the request.
http_response json_response(const http_request& request, http::status status, const boost::json::value& body);
// The same with the body already serialized (an answer kept between requests).
http_response json_response(const http_request& request, http::status status, std::string serialized);

// The error shape of every endpoint: {"detail": "..."}. `detail` is written for the caller and
// never carries internal error text.
http_response error_response(const http_request& request, http::status status, std::string_view detail);

// What the server knows about a request besides its bytes.
struct request_context {
  std::string peer_ip;  // the TCP peer (a proxy, if there is one)
};

using handler = std::function<boost::asio::awaitable<http_response>(const http_request&, const request_context&)>;

class router {
 public:
  void add(http::verb verb, std::string path, handler h);

  struct match {
    const handler* found = nullptr;
    bool path_known = false;  // the path exists with other verbs: 405, not 404
    std::string allowed;      // for the Allow header, e.g. "GET, POST"
    std::string pattern;      // the table's path that matched (bounded, for metrics labels)
  };
  // Matches the request target's path (the query string is ignored). A table path ending in
  // "/*" matches any one further path segment.
  match find(http::verb verb, std::string_view target) const;

  // Every (verb, path) in the table, for tests that must cover all routes.
  std::vector<std::pair<http::verb, std::string>> routes() const;

 private:
  struct route {
    http::verb verb;
    std::string path;
    handler h;
  };
  std::vector<route> routes_;
};

// The path part of a request target.
std::string_view target_path(std::string_view target);

// The request body as a JSON object, or nullopt if it is not one.
std::optional<boost::json::object> json_object_body(const http_request& request);

// The value of ?key= in a request target (no percent-decoding: our parameters are plain).
std::optional<std::string> query_parameter(std::string_view target, std::string_view key);

// A value of an application/x-www-form-urlencoded body decoded: '+' is a space, %XX a byte;
// nullopt for a malformed escape.
std::optional<std::string> form_decode(std::string_view encoded);

}  // namespace smsbridge::api
