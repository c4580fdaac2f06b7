// Shared Lists: a burst of reads costs the helper one List, and never hides a change that finished
// before the read arrived.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "api-daemon/coalesced_list.hpp"
#include "fakes.hpp"

using namespace smsbridge::api;
using namespace smsbridge::api::testing;
namespace asio = boost::asio;

namespace {
long lists(const fake_firewall& f) { return std::count(f.calls.begin(), f.calls.end(), "list"); }

// Lists through `helper` after `delay`, and records how many doors it saw.
asio::awaitable<void> list_after(firewall_client& helper, std::chrono::milliseconds delay, int& doors) {
  asio::steady_timer wait(co_await asio::this_coro::executor, delay);
  co_await wait.async_wait(asio::use_awaitable);
  auto listing = helper.list("");
  auto r = co_await std::move(listing);
  doors = r ? r->grants_size() : -1;
}

asio::awaitable<void> open_after(firewall_client& helper, std::chrono::milliseconds delay) {
  asio::steady_timer wait(co_await asio::this_coro::executor, delay);
  co_await wait.async_wait(asio::use_awaitable);
  open_request o;
  o.service = "metrics";
  o.external_port = 9100;
  o.source = "10.0.0.2/32";
  o.duration_seconds = 600;
  auto opening = helper.open(o);
  const auto opened = co_await std::move(opening);
  CHECK(opened.has_value());
}
}  // namespace

TEST_CASE("reads that arrive while a List is in flight share its answer") {
  asio::io_context io;
  fake_firewall inner;
  inner.list_delay = std::chrono::milliseconds(50);
  coalescing_firewall_client helper(io.get_executor(), inner);
  int seen[4] = {-2, -2, -2, -2};
  for (int i = 0; i < 4; ++i) asio::co_spawn(io, list_after(helper, std::chrono::milliseconds(i * 5), seen[i]), asio::detached);
  io.run();
  CHECK(lists(inner) == 1);
  for (int d : seen) CHECK(d == 0);
}

TEST_CASE("a read after a door change finished never shares a List sent before it") {
  asio::io_context io;
  fake_firewall inner;
  inner.list_delay = std::chrono::milliseconds(50);
  coalescing_firewall_client helper(io.get_executor(), inner);
  int before = -2, after = -2;
  asio::co_spawn(io, list_after(helper, std::chrono::milliseconds(0), before), asio::detached);
  asio::co_spawn(io, open_after(helper, std::chrono::milliseconds(10)), asio::detached);
  asio::co_spawn(io, list_after(helper, std::chrono::milliseconds(20), after), asio::detached);
  io.run();
  CHECK(lists(inner) == 2);
  CHECK(after == 1);  // the door it opened
}

TEST_CASE("reads one after another each ask the helper: nothing is kept once a List is answered") {
  fake_firewall inner;
  asio::io_context io;
  coalescing_firewall_client helper(io.get_executor(), inner);
  for (int i = 0; i < 3; ++i) REQUIRE(run(helper.list("")).has_value());
  CHECK(lists(inner) == 3);
}

TEST_CASE("a shared List that failed fails for every read that joined it") {
  asio::io_context io;
  fake_firewall inner;
  inner.list_delay = std::chrono::milliseconds(20);
  inner.unreachable_verbs.insert("list");
  coalescing_firewall_client helper(io.get_executor(), inner);
  int a = -2, b = -2;
  asio::co_spawn(io, list_after(helper, std::chrono::milliseconds(0), a), asio::detached);
  asio::co_spawn(io, list_after(helper, std::chrono::milliseconds(0), b), asio::detached);
  io.run();
  CHECK(a == -1);
  CHECK(b == -1);
}
