// The refusal table, and socket_firewall_client against a stand-in helper on a Unix socket in a
// temporary directory: kept connections, a reconnect after the helper closed an idle one, the
// deadline, and an absent helper.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include "api-daemon/firewall_socket_client.hpp"
#include "proto/framing.hpp"

using namespace smsbridge::api;
namespace asio = boost::asio;
using asio::local::stream_protocol;

TEST_CASE("one table maps every helper error code to an HTTP status, and hides infrastructure detail") {
  using s = boost::beast::http::status;
  CHECK(http_status_of({v1::NOT_OPEN, "x", false}) == s::not_found);
  CHECK(http_status_of({v1::UNKNOWN_SERVICE, "x", false}) == s::not_found);
  CHECK(http_status_of({v1::ALREADY_OPEN, "x", false}) == s::conflict);
  CHECK(http_status_of({v1::PORT_IN_USE, "x", false}) == s::conflict);
  CHECK(http_status_of({v1::DURATION_OUT_OF_RANGE, "x", false}) == s::unprocessable_entity);
  CHECK(http_status_of({v1::SOURCE_NOT_ALLOWED, "x", false}) == s::unprocessable_entity);
  CHECK(http_status_of({v1::STATE_WRITE_FAILED, "x", false}) == s::service_unavailable);
  CHECK(http_status_of({v1::NFT_FAILED, "the kernel said EPERM", false}) == s::bad_gateway);
  CHECK(public_sentence({v1::NFT_FAILED, "the kernel said EPERM", false}) == "The firewall helper could not carry out the request.");
  CHECK(public_sentence({v1::NOT_OPEN, "'metrics' is not open.", false}) == "'metrics' is not open.");
  CHECK(http_status_of(unreachable_refusal("gone")) == s::service_unavailable);
  CHECK(public_sentence(unreachable_refusal("gone")) == "The firewall helper is not reachable.");
}

namespace {
// A stand-in helper: answers Status with the request's id; counts connections; can close each
// connection after `answers_per_connection` answers, or stay silent.
struct stand_in {
  asio::io_context& io;
  std::string path;
  stream_protocol::acceptor acceptor;
  int connections = 0;
  int answers_per_connection = 1000;
  bool silent = false;

  stand_in(asio::io_context& context, std::string p) : io(context), path(std::move(p)), acceptor(context, stream_protocol::endpoint(path)) {
    asio::co_spawn(io, accept(), asio::detached);
  }
  asio::awaitable<void> accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      ++connections;
      asio::co_spawn(io, serve(std::move(socket)), asio::detached);
    }
  }
  asio::awaitable<void> serve(stream_protocol::socket socket) {
    smsbridge::proto::frame_decoder decoder;
    std::array<char, 4096> buffer;
    int answered = 0;
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      decoder.feed(std::string_view(buffer.data(), n));
      while (auto next = decoder.next()) {
        if (!*next) break;
        v1::Request request;
        if (!smsbridge::proto::parse_payload(**next, request)) co_return;
        if (silent) continue;
        v1::Response response;
        response.set_request_id(request.request_id());
        response.mutable_status()->set_version("stand-in");
        auto frame = smsbridge::proto::encode_frame(response);
        co_await asio::async_write(socket, asio::buffer(*frame), asio::as_tuple(asio::use_awaitable));
        if (++answered >= answers_per_connection) co_return;  // closes the connection
      }
    }
  }
};

struct temp_dir {
  std::string path;
  temp_dir() {
    char name[] = "/tmp/fwclient-XXXXXX";
    path = ::mkdtemp(name);
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
};

template <class T>
T finish(asio::io_context& io, asio::awaitable<T> work) {
  auto done = asio::co_spawn(io, std::move(work), asio::use_future);
  while (done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) io.run_one();
  return done.get();
}
}  // namespace

TEST_CASE("socket_firewall_client keeps its connection: many calls, one connection") {
  temp_dir dir;
  asio::io_context io;
  stand_in helper(io, dir.path + "/fw.sock");
  socket_firewall_client client(io.get_executor(), helper.path);
  for (int i = 0; i < 5; ++i) {
    const auto status = finish(io, client.status());
    REQUIRE(status.has_value());
    CHECK(status->version() == "stand-in");
  }
  CHECK(helper.connections == 1);
}

TEST_CASE("socket_firewall_client reconnects when the helper closed an idle connection") {
  temp_dir dir;
  asio::io_context io;
  stand_in helper(io, dir.path + "/fw.sock");
  helper.answers_per_connection = 1;
  socket_firewall_client client(io.get_executor(), helper.path);
  REQUIRE(finish(io, client.status()).has_value());
  REQUIRE(finish(io, client.status()).has_value());
  CHECK(helper.connections == 2);
}

TEST_CASE("socket_firewall_client: a silent helper costs the deadline, an absent one fails at once, both as unreachable") {
  temp_dir dir;
  asio::io_context io;
  stand_in helper(io, dir.path + "/fw.sock");
  helper.silent = true;
  socket_firewall_client client(io.get_executor(), helper.path, std::chrono::milliseconds(200));
  const auto started = std::chrono::steady_clock::now();
  const auto silent = finish(io, client.status());
  REQUIRE(!silent);
  CHECK(silent.error().unreachable);
  CHECK(silent.error().sentence.find("did not answer in time") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(200));

  socket_firewall_client nobody(io.get_executor(), dir.path + "/nobody.sock");
  const auto absent = finish(io, nobody.status());
  REQUIRE(!absent);
  CHECK(absent.error().unreachable);
  CHECK(absent.error().sentence.find("cannot connect") != std::string::npos);
}

TEST_CASE("socket_firewall_client: more calls at once than connections queue for one, and none fails") {
  temp_dir dir;
  asio::io_context io;
  stand_in helper(io, dir.path + "/fw.sock");
  socket_firewall_client client(io.get_executor(), helper.path, std::chrono::seconds(5), 2);
  std::vector<std::future<helper_result<v1::StatusResult>>> calls;
  for (int i = 0; i < 20; ++i) calls.push_back(asio::co_spawn(io, client.status(), asio::use_future));
  while (std::any_of(calls.begin(), calls.end(), [](auto& f) { return f.wait_for(std::chrono::seconds(0)) != std::future_status::ready; })) {
    io.run_one();
  }
  for (auto& f : calls) CHECK(f.get().has_value());
  CHECK(helper.connections == 2);
}
