// Routing of HTTP requests and the JSON answer shapes shared by every endpoint.
#include "api-daemon/http_router.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace smsbridge::api {

http_response json_response(const http_request& request, http::status status, const boost::json::value& body) {
  return json_response(request, status, boost::json::serialize(body));
}

http_response json_response(const http_request& request, http::status status, std::string serialized) {
  http_response r{status, request.version()};
  r.set(http::field::content_type, "application/json");
  r.set(http::field::cache_control, "no-store");
  r.keep_alive(request.keep_alive());
  r.body() = std::move(serialized);
  r.prepare_payload();
  return r;
}

http_response error_response(const http_request& request, http::status status, std::string_view detail) {
  return json_response(request, status, boost::json::object{{"detail", detail}});
}

void router::add(http::verb verb, std::string path, handler h) { routes_.push_back({verb, std::move(path), std::move(h)}); }

std::string_view target_path(std::string_view target) {
  const auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

std::optional<boost::json::object> json_object_body(const http_request& request) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(request.body(), ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::optional<std::string> query_parameter(std::string_view target, std::string_view key) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) return std::string(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
  }
  return std::nullopt;
}

std::optional<std::string> form_decode(std::string_view encoded) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= encoded.size()) return std::nullopt;
      const int high = hex(encoded[i + 1]), low = hex(encoded[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

router::match router::find(http::verb verb, std::string_view target) const {
  const std::string_view path = target_path(target);
  match m;
  for (const auto& r : routes_) {
    const bool wildcard = r.path.size() > 2 && r.path.ends_with("/*");
    if (wildcard) {
      const std::string_view prefix = std::string_view(r.path).substr(0, r.path.size() - 1);
      if (!path.starts_with(prefix) || path.size() == prefix.size() ||
          path.substr(prefix.size()).find('/') != std::string_view::npos) {
        continue;
      }
    } else if (r.path != path) {
      continue;
    }
    m.path_known = true;
    m.pattern = r.path;
    if (!m.allowed.empty()) m.allowed += ", ";
    m.allowed += std::string(http::to_string(r.verb));
    if (r.verb == verb) m.found = &r.h;
  }
  return m;
}

std::vector<std::pair<http::verb, std::string>> router::routes() const {
  std::vector<std::pair<http::verb, std::string>> out;
  for (const auto& r : routes_) out.emplace_back(r.verb, r.path);
  return out;
}

}  // namespace smsbridge::api
