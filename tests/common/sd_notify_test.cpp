// The notify protocol: NOTIFY_SOCKET and WATCHDOG_* parsing, the status throttle, the real socket
// against a datagram socket of the test's own, and service_state's messages on a running loop.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/sd_notify.hpp"
#include "common/service_state.hpp"
#include "tests/common/fake_notifier.hpp"
#include "../firewall-helper/temp_dir.hpp"

using namespace smsbridge;
using namespace std::chrono_literals;

TEST_CASE("NOTIFY_SOCKET: a path keeps its NUL, an abstract name starts with one, anything else is refused") {
  auto path = parse_notify_socket("/run/systemd/notify");
  REQUIRE(path.has_value());
  CHECK(std::string(path->address.sun_path) == "/run/systemd/notify");
  CHECK(path->length == offsetof(sockaddr_un, sun_path) + sizeof "/run/systemd/notify");
  auto abstract = parse_notify_socket("@/org/freedesktop/systemd1/notify/42");
  REQUIRE(abstract.has_value());
  CHECK(abstract->address.sun_path[0] == '\0');
  CHECK(std::string(abstract->address.sun_path + 1) == "/org/freedesktop/systemd1/notify/42");
  CHECK(abstract->length == offsetof(sockaddr_un, sun_path) + std::strlen("@/org/freedesktop/systemd1/notify/42"));
  CHECK_FALSE(parse_notify_socket("run/notify").has_value());
  CHECK_FALSE(parse_notify_socket("").has_value());
  CHECK(parse_notify_socket("/" + std::string(106, 'a')).has_value());   // 107 bytes and the NUL: exactly sun_path
  CHECK_FALSE(parse_notify_socket("/" + std::string(107, 'a')).has_value());
  CHECK(parse_notify_socket("@" + std::string(107, 'a')).has_value());
  CHECK_FALSE(parse_notify_socket("@" + std::string(108, 'a')).has_value());
  CHECK(parse_notify_socket("x").error().message.find("absolute path") != std::string::npos);
}

TEST_CASE("the watchdog interval is WATCHDOG_USEC for this process only, and none for nonsense") {
  CHECK(watchdog_interval("2000000", nullptr, 7) == std::chrono::microseconds(2000000));
  CHECK(watchdog_interval("2000000", "", 7) == std::chrono::microseconds(2000000));
  CHECK(watchdog_interval("2000000", "7", 7) == std::chrono::microseconds(2000000));
  CHECK_FALSE(watchdog_interval("2000000", "8", 7));  // inherited by a child: not ours to ping
  CHECK_FALSE(watchdog_interval("2000000", "seven", 7));
  CHECK_FALSE(watchdog_interval(nullptr, "7", 7));
  CHECK_FALSE(watchdog_interval("", nullptr, 7));
  CHECK_FALSE(watchdog_interval("0", nullptr, 7));
  CHECK_FALSE(watchdog_interval("-5", nullptr, 7));
  CHECK_FALSE(watchdog_interval("20s", nullptr, 7));
}

TEST_CASE("status lines: repeats are dropped, a change inside the gap is held and the newest sent at its end") {
  using clock = status_throttle::clock;
  status_throttle t(2s);
  const clock::time_point t0{};
  CHECK(t.offer("0 doors open", t0) == std::string("0 doors open"));
  CHECK_FALSE(t.offer("0 doors open", t0 + 5s));  // the same text: nothing
  CHECK_FALSE(t.due());
  CHECK(t.offer("1 door open", t0 + 6s) == std::string("1 door open"));  // past the gap: at once
  CHECK_FALSE(t.offer("2 doors open", t0 + 6500ms));  // inside the gap: held
  CHECK_FALSE(t.offer("3 doors open", t0 + 7s));
  REQUIRE(t.due());
  CHECK(*t.due() == t0 + 8s);
  CHECK_FALSE(t.take(t0 + 7500ms));  // not yet
  CHECK(t.take(t0 + 8s) == std::string("3 doors open"));  // the newest only
  CHECK_FALSE(t.due());
  // Changed and changed back within the gap: nothing to say.
  CHECK_FALSE(t.offer("2 doors open", t0 + 8500ms));
  CHECK_FALSE(t.offer("3 doors open", t0 + 9s));
  CHECK_FALSE(t.take(t0 + 10s));
  CHECK_FALSE(t.due());
}

TEST_CASE("notify_socket sends each message as one datagram to the path in NOTIFY_SOCKET") {
  temp_dir dir;
  const std::string path = dir.file("notify");
  const int listener = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(listener >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strcpy(address.sun_path, path.c_str());
  REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  auto notify = notify_socket::open(path.c_str());
  REQUIRE(notify.has_value());
  CHECK(notify->notify("READY=1"));
  CHECK(notify->notify("STATUS=0 doors open"));
  char buffer[256];
  ssize_t n = ::recv(listener, buffer, sizeof buffer, MSG_DONTWAIT);
  CHECK(std::string(buffer, static_cast<std::size_t>(std::max<ssize_t>(n, 0))) == "READY=1");
  n = ::recv(listener, buffer, sizeof buffer, MSG_DONTWAIT);
  CHECK(std::string(buffer, static_cast<std::size_t>(std::max<ssize_t>(n, 0))) == "STATUS=0 doors open");
  ::close(listener);
  CHECK_FALSE(notify->notify("WATCHDOG=1"));  // nobody listens any more: reported, not thrown
}

TEST_CASE("without NOTIFY_SOCKET every message is a no-op; a bad value is a sentence") {
  auto none = notify_socket::open(nullptr);
  REQUIRE(none.has_value());
  CHECK(none->notify("READY=1"));
  auto empty = notify_socket::open("");
  REQUIRE(empty.has_value());
  CHECK(empty->notify("READY=1"));
  auto bad = notify_socket::open("notify");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.find("NOTIFY_SOCKET") != std::string::npos);
}

namespace {
// Runs `io` for `span` of real time.
void run_for(boost::asio::io_context& io, std::chrono::milliseconds span) {
  io.restart();
  io.run_for(span);
}
}  // namespace

TEST_CASE("service_state: READY=1 only once the loop runs, then WATCHDOG=1 every half interval until STOPPING=1") {
  boost::asio::io_context io(1);
  testing::fake_notifier manager;
  service_state state(io.get_executor(), manager, std::chrono::microseconds(200000));
  state.ready();
  CHECK(manager.messages.empty());  // posted: nothing is said before the loop runs
  run_for(io, 350ms);
  REQUIRE(manager.messages.size() >= 2);
  CHECK(manager.messages[0] == "READY=1");
  CHECK(manager.messages[1] == "WATCHDOG=1");
  // At 0, 100, 200 and 300 ms: four pings in 350 ms (three to five, for a loaded machine).
  CHECK(manager.count("WATCHDOG=1") >= 3);
  CHECK(manager.count("WATCHDOG=1") <= 5);
  state.stopping();
  CHECK(manager.messages.back() == "STOPPING=1");
  const auto said = manager.messages.size();
  run_for(io, 250ms);
  CHECK(manager.messages.size() == said);  // no ping after STOPPING=1
}

TEST_CASE("service_state: a loop that does not run sends no WATCHDOG=1, and no watchdog means no pings") {
  boost::asio::io_context io(1);
  testing::fake_notifier manager;
  service_state state(io.get_executor(), manager, std::chrono::microseconds(100000));
  state.ready();
  run_for(io, 10ms);
  const auto before = manager.count("WATCHDOG=1");
  std::this_thread::sleep_for(200ms);  // the loop is busy elsewhere: four intervals pass unserved
  CHECK(manager.count("WATCHDOG=1") == before);
  boost::asio::io_context quiet(1);
  testing::fake_notifier other;
  service_state unwatched(quiet.get_executor(), other, std::nullopt);
  unwatched.ready();
  run_for(quiet, 100ms);
  CHECK(other.messages == std::vector<std::string>{"READY=1"});
}

TEST_CASE("service_state: STATUS= lines are throttled on the loop and the newest arrives after the gap") {
  boost::asio::io_context io(1);
  testing::fake_notifier manager;
  service_state state(io.get_executor(), manager, std::nullopt, 100ms);
  state.status("0 doors open");
  state.status("1 door open");
  state.status("2 doors open");
  CHECK(manager.messages == std::vector<std::string>{"STATUS=0 doors open"});
  run_for(io, 50ms);
  CHECK(manager.messages.size() == 1);
  run_for(io, 100ms);
  CHECK(manager.messages == std::vector<std::string>{"STATUS=0 doors open", "STATUS=2 doors open"});
  state.status("2 doors open");
  run_for(io, 150ms);
  CHECK(manager.messages.size() == 2);
  state.stopping();
  state.status("3 doors open");
  CHECK(manager.messages.back() == "STOPPING=1");
}

TEST_CASE("service_state: a reload is RELOADING=1 with the monotonic clock, then READY=1") {
  boost::asio::io_context io(1);
  testing::fake_notifier manager;
  service_state state(io.get_executor(), manager, std::nullopt);
  const auto before = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch());
  state.reloading();
  state.reloaded();
  REQUIRE(manager.messages.size() == 2);
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  REQUIRE(manager.messages[0].rfind(prefix, 0) == 0);
  const long long usec = std::stoll(manager.messages[0].substr(prefix.size()));
  CHECK(usec >= before.count());
  CHECK(usec - before.count() < 1000000);
  CHECK(manager.messages[1] == "READY=1");
  state.stopping();
  state.reloading();
  CHECK(manager.messages.back() == "STOPPING=1");
}
