// Supervised loops: a loop that throws is logged once per failure and started again.
#include <catch2/catch.hpp>

#include <stdexcept>

#include <boost/asio/io_context.hpp>

#include "api-daemon/supervise.hpp"
#include "common/log.hpp"

using namespace smsbridge::api;

TEST_CASE("a background loop that throws is logged as an error and restarted after a pause") {
  boost::asio::io_context io;
  std::vector<std::pair<smsbridge::log::level, std::string>> logged;
  smsbridge::log::scoped_sink recorder([&](smsbridge::log::level l, std::string_view m) { logged.emplace_back(l, std::string(m)); });
  int starts = 0;
  supervise(io.get_executor(), "outbox delivery", [&]() -> boost::asio::awaitable<void> {
    if (++starts == 3) io.stop();
    throw std::runtime_error("the database went away");
    co_return;
  }, std::chrono::milliseconds(1));
  io.run_for(std::chrono::seconds(5));
  CHECK(starts == 3);
  REQUIRE(logged.size() >= 2);
  CHECK(logged[0].first == smsbridge::log::level::error);
  CHECK(logged[0].second == "the outbox delivery loop stopped (the database went away); it restarts in 1 ms.");
  CHECK(logged[1].second.find("restarts in 2 ms") != std::string::npos);  // the pause doubles
}
