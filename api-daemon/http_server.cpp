// The HTTP shell: Beast with C++20 coroutines. Each connection reads through a request_reader
// (bounded buffer, body, header, chunk extensions and trailer), the stream has a timeout; every
// input-caused failure becomes a 4xx JSON answer, every bug one 500.
#include "api-daemon/http_server.hpp"

#include "api-daemon/trusted_proxies.hpp"
#include "common/log.hpp"

#include <array>
#include <cerrno>
#include <memory>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

#include "api-daemon/connection_limiter.hpp"
#include "proto/net_types.hpp"

namespace smsbridge::api {

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

http_response bare_500(const http_request& request) {
  http_response r{http::status::internal_server_error, request.version()};
  r.set(http::field::content_type, "application/json");
  r.keep_alive(false);
  r.body() = R"({"detail":"Internal server error."})";
  r.prepare_payload();
  return r;
}

// The whole answer to a connection refused at accept, written without waiting.
std::string accept_refusal(std::string_view status_line, std::string_view sentence) {
  const std::string body = fmt::format(R"({{"detail":"{}"}})", sentence);
  return fmt::format("HTTP/1.1 {}\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n"
                     "Content-Length: {}\r\n\r\n{}",
                     status_line, body.size(), body);
}

// `slot` holds this connection's place under the connection caps until the session ends.
asio::awaitable<void> session(beast::tcp_stream stream, const router& routes, http_limits limits,
                              request_observer observe,
                              std::shared_ptr<void> slot) {
  (void)slot;
  request_reader reader(limits);
  request_context context;
  boost::system::error_code peer_ec;
  const auto peer = stream.socket().remote_endpoint(peer_ec);
  if (!peer_ec) context.peer_ip = peer.address().to_string();
  for (;;) {
    reader.next();
    stream.expires_after(limits.timeout);
    auto [ec, n] = co_await http::async_read(stream, reader.buffer(), reader.parser(), use_tuple);
    (void)n;
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
        ec == asio::error::connection_reset) {
      break;
    }
    const auto started = std::chrono::steady_clock::now();
    std::string route = "unmatched", method = "other";
    http_response response;
    bool close_after = false;
    if (ec) {
      // The request was not understood: answer in our error shape, then close.
      http_request stub;
      stub.version(11);
      const auto [status, sentence] = reader.refusal(ec);
      response = error_response(stub, status, sentence);
      response.keep_alive(false);
      close_after = true;
    } else {
      const http_request& request = reader.parser().get();
      const auto m = routes.find(request.method(), request.target());
      if (m.path_known) route = m.pattern;
      if (request.method() != http::verb::unknown) method = std::string(http::to_string(request.method()));
      if (m.found) {
        try {
          response = co_await (*m.found)(request, context);
        } catch (const std::exception& e) {
          log::error("{} {} failed: {}", std::string(request.method_string()), std::string(target_path(request.target())), e.what());
          response = bare_500(request);
        }
      } else if (m.path_known) {
        response = error_response(request, http::status::method_not_allowed, "This method is not allowed here.");
        response.set(http::field::allow, m.allowed);
      } else {
        response = error_response(request, http::status::not_found, "Not found.");
      }
      close_after = !response.keep_alive();
    }
    stream.expires_after(limits.timeout);
    auto [wec, written] = co_await http::async_write(stream, response, use_tuple);
    (void)written;
    observe(route, method, response.result_int(), std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (wec || close_after) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  // Lingering close: read and drop what the client is still sending (the rest of a body we
  // refused with 413), at most 1 MiB or 2 s, so that closing does not reset the connection before
  // the client has read our answer.
  stream.expires_after(std::chrono::seconds(2));
  std::array<char, 16384> sink;
  for (std::size_t dropped = 0; dropped < (1u << 20);) {
    auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
    if (rec) break;
    dropped += n;
  }
}
}  // namespace

asio::awaitable<void> serve_http(asio::ip::tcp::acceptor& acceptor, const router& routes, http_limits limits,
                                 request_observer observe) {
  auto executor = co_await asio::this_coro::executor;
  // Shared with the sessions, which may outlive this loop.
  auto limiter = std::make_shared<connection_limiter>(limits.max_connections, limits.max_connections_per_source);
  const trusted_proxies proxies(limits.proxies);
  static const std::string server_full_answer =
      accept_refusal("503 Service Unavailable", "The server has too many connections; try again in a moment.");
  static const std::string source_full_answer =
      accept_refusal("429 Too Many Requests", "Too many connections from your address; close some and try again.");
  asio::steady_timer backoff(executor);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): the connection stays
      // queued and the acceptor stays readable, so accepting again at once would spin a core.
      // Pause, keep serving the connections we have, then try again.
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
          ec.value() == ENFILE) {
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(use_tuple);
      }
      continue;
    }
    boost::system::error_code peer_ec;
    const auto peer = socket.remote_endpoint(peer_ec);
    const std::string source = peer_ec ? std::string() : peer.address().to_string();
    const auto ip = firewall::parse_ip_address(source);
    const bool exempt = (ip && ip->is_loopback()) || proxies.trusts(source);
    const auto verdict = limiter->admit(source, exempt);
    if (verdict != connection_limiter::verdict::admitted) {
      // Say why, best effort and without waiting, then close: a full server must not queue more.
      const std::string& answer = verdict == connection_limiter::verdict::server_full ? server_full_answer : source_full_answer;
      socket.non_blocking(true, peer_ec);
      socket.write_some(asio::buffer(answer.data(), answer.size()), peer_ec);
      socket.shutdown(asio::ip::tcp::socket::shutdown_both, peer_ec);
      continue;
    }
    std::shared_ptr<void> slot(nullptr, [limiter, source, exempt](void*) { limiter->release(source, exempt); });
    asio::co_spawn(executor, session(beast::tcp_stream(std::move(socket)), routes, limits, observe, std::move(slot)),
                   [](std::exception_ptr e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& x) {
                       log::error("{}", fmt::format("an HTTP session failed: {}", x.what()));
                     }
                   });
  }
}

}  // namespace smsbridge::api
