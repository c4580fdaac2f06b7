// Signed POSTs to the backend with Beast over OpenSSL (verify_peer + host name verification + SNI).
#include "api-daemon/backend_client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <fmt/format.h>

#include "api-daemon/crypto.hpp"

namespace smsbridge::api {

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

template <class Stream>
fallible<backend_answer> exchange(Stream& stream, const url_parts& u, const std::string& body, std::string_view secret,
                                  const std::string& idempotency_key) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  http::request<http::string_body> request{http::verb::post, u.target, 11};
  request.set(http::field::host, u.host);
  request.set(http::field::content_type, "application/json");
  request.set(http::field::user_agent, "sms-bridge-api/" SMS_BRIDGE_VERSION);
  request.set("X-Timestamp", std::to_string(now));
  request.set("X-Signature", signature(secret, now, body));
  request.set("Idempotency-Key", idempotency_key);
  request.body() = body;
  request.prepare_payload();
  beast::error_code ec;
  http::write(stream, request, ec);
  if (ec) return fail(fmt::format("cannot send to the backend: {}", ec.message()));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  http::read(stream, buffer, parser, ec);
  if (ec) return fail(fmt::format("no answer from the backend: {}", ec.message()));
  return backend_answer{parser.get().result_int()};
}
}  // namespace

fallible<url_parts> parse_url(std::string_view url) {
  url_parts u;
  if (url.starts_with("https://")) {
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    u.tls = false;
    url.remove_prefix(7);
  } else {
    return fail("the backend URL must start with https:// (or http://, explicitly).");
  }
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (authority.find('@') != std::string_view::npos) return fail("the backend URL must not carry credentials.");
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    u.host = std::string(authority.substr(0, colon));
    u.port = std::string(authority.substr(colon + 1));
  } else {
    u.host = std::string(authority);
    u.port = u.tls ? "443" : "80";
  }
  if (u.host.empty() || u.port.empty()) return fail("the backend URL has no host.");
  return u;
}

std::string signature(std::string_view secret, std::int64_t unix_seconds, std::string_view body) {
  return to_hex(hmac_sha256(secret, std::to_string(unix_seconds) + std::string(body)));
}

fallible<backend_answer> post_signed(const std::string& url, const std::string& body, std::string_view secret,
                                     const std::string& idempotency_key, const std::string& ca_file,
                                     std::chrono::seconds timeout) {
  auto u = parse_url(url);
  if (!u) return u.error();
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(u->host, u->port, ec);
  if (ec) return fail(fmt::format("cannot resolve the backend host {}: {}", u->host, ec.message()));
  if (!u->tls) {
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    stream.connect(endpoints, ec);
    if (ec) return fail(fmt::format("cannot connect to the backend {}:{}: {}", u->host, u->port, ec.message()));
    auto r = exchange(stream, *u, body, secret, idempotency_key);
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    return r;
  }
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_default_verify_paths(ec);
  if (!ca_file.empty()) {
    tls.load_verify_file(ca_file, ec);
    if (ec) return fail(fmt::format("cannot read the backend CA file {}: {}", ca_file, ec.message()));
  }
  tls.set_verify_mode(asio::ssl::verify_peer);
  tls.set_verify_callback(asio::ssl::host_name_verification(u->host));
  beast::ssl_stream<beast::tcp_stream> stream(io, tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), u->host.c_str())) return fail("cannot set the TLS server name.");
  beast::get_lowest_layer(stream).expires_after(timeout);
  beast::get_lowest_layer(stream).connect(endpoints, ec);
  if (ec) return fail(fmt::format("cannot connect to the backend {}:{}: {}", u->host, u->port, ec.message()));
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) return fail(fmt::format("TLS with the backend {} failed (certificate not trusted?): {}", u->host, ec.message()));
  auto r = exchange(stream, *u, body, secret, idempotency_key);
  stream.shutdown(ec);  // a missing close_notify from the peer is not our problem
  return r;
}

}  // namespace smsbridge::api
