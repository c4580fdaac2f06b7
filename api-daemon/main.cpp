// sms-bridge-api: wiring only. Configuration, migrations, the two listeners, signals.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>

#include "api-daemon/api_config.hpp"
#include "api-daemon/database.hpp"
#include "api-daemon/http_server.hpp"
#include "api-daemon/migrations.hpp"
#include "api-daemon/routes.hpp"

extern char** environ;

namespace api = smsbridge::api;
namespace asio = boost::asio;

namespace {
void log_line(std::string_view level, std::string_view message) {
  std::fprintf(stderr, "sms-bridge-api: %.*s: %.*s\n", static_cast<int>(level.size()), level.data(),
               static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
}

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string_view::npos && kv.rfind("SMS_BRIDGE_", 0) == 0) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

// Binds a listener; fails with a sentence naming the setting.
smsbridge::fallible<asio::ip::tcp::acceptor> bind(asio::io_context& io, const api::listen_address& where, const char* name) {
  boost::system::error_code ec;
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(where.host), where.port);
  asio::ip::tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return smsbridge::fail(fmt::format("cannot listen on {}:{} ({}): {}.", where.host, where.port, name, ec.message()));
  return acceptor;
}
}  // namespace

int main(int argc, char** argv) {
  auto cl = api::parse_command_line(environment(), std::vector<std::string>(argv + 1, argv + argc));
  if (!cl) {
    log_line("error", cl.error().message);
    return 2;
  }
  if (cl->help) {
    std::fputs(api::usage().c_str(), stdout);
    return 0;
  }
  const api::api_config& config = cl->config;
  api::database db(config.database_url);

  // Migrations first, in both commands: the daemon never runs against an old schema.
  auto applied = db.call_now([](smsbridge::api::pg::connection& c) { return api::migrate(c, api::builtin_migrations()); });
  if (!applied) {
    log_line("error", fmt::format("cannot migrate the database: {}", applied.error().message));
    return 1;
  }
  for (const auto& v : *applied) log_line("info", fmt::format("applied migration {}", v));
  if (cl->command == "migrate") {
    std::printf("%zu migration(s) applied; the schema is up to date.\n", applied->size());
    return 0;
  }

  asio::io_context io(1);
  auto public_acceptor = bind(io, config.listen, "SMS_BRIDGE_LISTEN");
  auto metrics_acceptor = bind(io, config.metrics_listen, "SMS_BRIDGE_METRICS_LISTEN");
  if (!public_acceptor || !metrics_acceptor) {
    log_line("error", (!public_acceptor ? public_acceptor.error() : metrics_acceptor.error()).message);
    return 1;
  }
  api::app_context app{config, db};
  const api::router public_router = api::public_routes(app);
  const api::router metrics_router = api::metrics_routes(app);
  const auto report = [](std::string_view m) { log_line("error", m); };
  asio::co_spawn(io, api::serve_http(*public_acceptor, public_router, {}, report), asio::detached);
  asio::co_spawn(io, api::serve_http(*metrics_acceptor, metrics_router, {}, report), asio::detached);
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
  std::signal(SIGPIPE, SIG_IGN);
  log_line("info", fmt::format("listening on {}:{} (public) and {}:{} (metrics)", config.listen.host,
                               public_acceptor->local_endpoint().port(), config.metrics_listen.host,
                               metrics_acceptor->local_endpoint().port()));
  io.run();
  log_line("info", "stopped");
  return 0;
}
