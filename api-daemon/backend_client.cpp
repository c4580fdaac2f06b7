// Signed POSTs to the backend with Beast over OpenSSL (verify_peer + host name verification + SNI),
// asynchronous, under one deadline.
#include "api-daemon/backend_client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
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
using clock = std::chrono::steady_clock;

// One request and its answer on a connected (and, for HTTPS, handshaken) stream, every step
// bounded by the same deadline through the lowest layer's timer.
template <class Stream>
asio::awaitable<fallible<backend_answer>> exchange(Stream& stream, const url_parts& u, const outgoing_post& out, clock::time_point deadline) {
  http::request<http::string_body> request{http::verb::post, u.target, 11};
  request.set(http::field::host, u.host);
  request.set(http::field::content_type, out.content_type);
  request.set(http::field::user_agent, "sms-bridge-api/" SMS_BRIDGE_VERSION);
  for (const auto& [name, value] : out.headers) request.set(name, value);
  request.body() = out.body;
  request.prepare_payload();
  beast::error_code ec;
  beast::get_lowest_layer(stream).expires_at(deadline);
  co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fail(fmt::format("cannot send to {}: {}", out.receiver, ec.message()));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  beast::get_lowest_layer(stream).expires_at(deadline);
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fail(fmt::format("no answer from {}: {}", out.receiver, ec.message()));
  co_return backend_answer{parser.get().result_int()};
}

// The host's addresses, or a sentence; the lookup is abandoned (not waited for) at the deadline.
asio::awaitable<fallible<asio::ip::tcp::resolver::results_type>> resolve(const url_parts& u, std::string receiver,
                                                                          clock::time_point deadline) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(executor);
  asio::steady_timer limit(executor, deadline);
  limit.async_wait([&resolver](const beast::error_code& ec) {
    if (!ec) resolver.cancel();
  });
  beast::error_code ec;
  auto endpoints = co_await resolver.async_resolve(u.host, u.port, asio::redirect_error(asio::use_awaitable, ec));
  limit.cancel();
  if (ec == asio::error::operation_aborted) co_return fail(fmt::format("looking up the host {} of {} timed out", u.host, receiver));
  if (ec) co_return fail(fmt::format("cannot resolve the host {} of {}: {}", u.host, receiver, ec.message()));
  co_return endpoints;
}

std::string timed_out_or(const beast::error_code& ec) {
  return ec == beast::error::timeout ? std::string("timed out") : ec.message();
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

outgoing_post signed_json(std::string receiver, std::string body, std::string_view secret, std::string idempotency_key) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  outgoing_post out;
  out.receiver = std::move(receiver);
  out.headers = {{"X-Timestamp", std::to_string(now)}, {"X-Signature", signature(secret, now, body)},
                 {"Idempotency-Key", std::move(idempotency_key)}};
  out.body = std::move(body);
  return out;
}

asio::awaitable<fallible<backend_answer>> post_signed(std::string url, std::string body, std::string secret,
                                                      std::string idempotency_key, std::string ca_file,
                                                      std::chrono::milliseconds timeout) {
  auto posting = post_to(std::move(url), signed_json("the backend", std::move(body), secret, std::move(idempotency_key)),
                         std::move(ca_file), timeout);
  co_return co_await std::move(posting);
}

asio::awaitable<fallible<backend_answer>> post_to(std::string url, outgoing_post out, std::string ca_file,
                                                  std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  auto u = parse_url(url);
  if (!u) co_return u.error();
  auto resolving = resolve(*u, out.receiver, deadline);
  auto endpoints = co_await std::move(resolving);
  if (!endpoints) co_return endpoints.error();
  auto executor = co_await asio::this_coro::executor;
  beast::error_code ec;
  if (!u->tls) {
    beast::tcp_stream stream(executor);
    stream.expires_at(deadline);
    co_await stream.async_connect(*endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return fail(fmt::format("cannot connect to {} {}:{}: {}", out.receiver, u->host, u->port, timed_out_or(ec)));
    auto exchanging = exchange(stream, *u, out, deadline);
    auto r = co_await std::move(exchanging);
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    co_return r;
  }
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_default_verify_paths(ec);
  if (!ca_file.empty()) {
    tls.load_verify_file(ca_file, ec);
    if (ec) co_return fail(fmt::format("cannot read the CA file {} for {}: {}", ca_file, out.receiver, ec.message()));
  }
  tls.set_verify_mode(asio::ssl::verify_peer);
  tls.set_verify_callback(asio::ssl::host_name_verification(u->host));
  beast::ssl_stream<beast::tcp_stream> stream(executor, tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), u->host.c_str())) co_return fail("cannot set the TLS server name.");
  beast::get_lowest_layer(stream).expires_at(deadline);
  co_await beast::get_lowest_layer(stream).async_connect(*endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fail(fmt::format("cannot connect to {} {}:{}: {}", out.receiver, u->host, u->port, timed_out_or(ec)));
  beast::get_lowest_layer(stream).expires_at(deadline);
  co_await stream.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    co_return fail(fmt::format("TLS with {} {} failed (certificate not trusted?): {}", out.receiver, u->host, timed_out_or(ec)));
  }
  auto exchanging = exchange(stream, *u, out, deadline);
  auto r = co_await std::move(exchanging);
  // No wait for the peer's close_notify: the answer is complete, and a stalled peer must not
  // hold us past the deadline. Closing the socket ends the connection.
  beast::get_lowest_layer(stream).close();
  co_return r;
}

}  // namespace smsbridge::api
