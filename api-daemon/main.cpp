// sms-bridge-api: wiring only. Configuration, migrations, admin commands, listeners, signals.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/rotating_file_sink.h>

#include "api-daemon/admin_cli.hpp"
#include "api-daemon/admins.hpp"
#include "api-daemon/api_config.hpp"
#include "api-daemon/admin_cache.hpp"
#include "api-daemon/admin_listener.hpp"
#include "api-daemon/database.hpp"
#include "api-daemon/http_server.hpp"
#include "api-daemon/metrics.hpp"
#include "api-daemon/migrations.hpp"
#include "api-daemon/coalesced_list.hpp"
#include "api-daemon/crypto.hpp"
#include "api-daemon/firewall_socket_client.hpp"
#include "api-daemon/retention.hpp"
#include "api-daemon/routes.hpp"
#include "api-daemon/supervise.hpp"
#include "api-daemon/terminal.hpp"
#include "common/build_info.hpp"
#include "common/log.hpp"
#include "common/sd_notify.hpp"
#include "common/service_state.hpp"

extern char** environ;

namespace api = smsbridge::api;
namespace asio = boost::asio;

namespace {
namespace log = smsbridge::log;  // not at file scope, where <cmath>'s ::log lives

// Every line goes to stderr (the journal, with its priority, under systemd) and, once the log
// directory is known, also to LOG_DIR/sms-bridge-api.log, which the logs endpoints serve.
// Atomic: SIGHUP replaces it while database threads may be logging.
std::atomic<std::shared_ptr<spdlog::logger>> file_logger;

void install_log_sink() {
  auto to_stderr = log::stderr_sink("sms-bridge-api");
  log::set_sink([to_stderr](log::level l, std::string_view sentence) {
    to_stderr(l, sentence);
    const auto file_log = file_logger.load();
    if (!file_log) return;
    using log::level;
    file_log->log(l == level::error ? spdlog::level::err : l == level::warning ? spdlog::level::warn
                  : l == level::debug ? spdlog::level::debug : spdlog::level::info,
                  "{}", sentence);
    file_log->flush();
  });
}

// The rotating log file under LOG_DIR (created if missing), opened anew: at start, and on SIGHUP
// after logrotate moved the old one away. Fails with a sentence, keeping the file it had.
smsbridge::fallible<void> open_log_file(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return smsbridge::fail(fmt::format("cannot create the log directory {}: {}; set SMS_BRIDGE_LOG_DIR.", dir, std::strerror(errno)));
  }
  try {
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(dir + "/sms-bridge-api.log", 10u << 20, 5);
    auto opened = std::make_shared<spdlog::logger>("sms-bridge-api", sink);
    opened->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    file_logger.store(std::move(opened));
  } catch (const spdlog::spdlog_ex& e) {
    return smsbridge::fail(fmt::format("cannot write logs under {}: {}; set SMS_BRIDGE_LOG_DIR.", dir, e.what()));
  }
  return {};
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

// SIGHUP: the settings file is read again now and the log file reopened; each failure is a
// warning and the daemon goes on (SMS_BRIDGE_* settings from the environment need a restart).
void reload(const api::api_config& config, api::settings_source& settings) {
  if (auto r = open_log_file(config.log_dir); !r) log::warning("reload: {}", r.error().message);
  if (auto r = settings.reload(); !r) {
    log::warning("reload: {}; requests that need the settings file fail until it is fixed.", r.error().message);
    return;
  }
  log::notice("reloaded {} and reopened the log file", settings.path());
}

// Runs `fn` on every delivery of the set's signals, on the I/O thread.
template <class Fn>
void on_each_signal(asio::signal_set& signals, Fn fn) {
  signals.async_wait([&signals, fn](const boost::system::error_code& ec, int) {
    if (ec) return;
    fn();
    on_each_signal(signals, fn);
  });
}

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

// The first admin from SMS_BRIDGE_ADMIN_USERNAME/PASSWORD, only while no admin exists.
smsbridge::fallible<void> bootstrap_admin(api::database& db, const api::api_config& config) {
  if (config.admin_username.empty()) return {};
  if (!api::is_valid_admin_name(config.admin_username)) return smsbridge::fail("SMS_BRIDGE_ADMIN_USERNAME is not a valid admin name.");
  auto exists_query = [](api::pg::connection& c) { return api::any_admin_exists(c); };
  auto exists = db.call_now(exists_query);
  if (!exists) return smsbridge::fail(exists.error().message);
  if (*exists) return {};
  auto hash = api::hash_password(config.admin_password);
  if (!hash) return hash.error();
  auto add = [&](api::pg::connection& c) { return api::add_admin(c, config.admin_username, *hash); };
  if (auto r = db.call_now(add); !r && r.error().kind != api::pg::error_kind::unique_violation) {
    return smsbridge::fail(r.error().message);
  }
  log::info("created the first admin '{}'", config.admin_username);
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  install_log_sink();
  auto cl = api::parse_command_line(environment(), std::vector<std::string>(argv + 1, argv + argc));
  if (!cl) {
    log::error("{}", cl.error().message);
    return 2;
  }
  if (cl->help) {
    std::fputs(api::usage().c_str(), stdout);
    return 0;
  }
  if (cl->version) {
    std::fputs(smsbridge::version_text("sms-bridge-api").c_str(), stdout);
    return 0;
  }
  if (auto r = api::init_crypto(); !r) return log::error("{}", r.error().message), 1;
  if (auto r = api::load_secrets(cl->config, environment()); !r) return log::error("{}", r.error().message), 2;
  const api::api_config& config = cl->config;
  api::database db(config.database_url, config.database_connections, config.database_password);

  // Migrations first, in every command: nothing runs against an old schema.
  auto do_migrate = [](api::pg::connection& c) { return api::migrate(c, api::builtin_migrations()); };
  auto applied = db.call_now(do_migrate);
  if (!applied) {
    log::error("cannot migrate the database: {}", applied.error().message);
    return 1;
  }
  for (const auto& v : *applied) log::info("applied migration {}", v);
  if (cl->command == "migrate") {
    std::printf("%zu migration(s) applied; the schema is up to date.\n", applied->size());
    return 0;
  }
  if (cl->command == "admin") return api::run_admin_command(db, cl->operands, api::read_new_password, config.hmac_secret);
  if (auto r = open_log_file(config.log_dir); !r) return log::error("{}", r.error().message), 1;
  if (auto r = bootstrap_admin(db, config); !r) {
    log::error("cannot create the first admin: {}", r.error().message);
    return 1;
  }

  asio::io_context io(1);
  auto public_acceptor = bind(io, config.listen, "SMS_BRIDGE_LISTEN");
  auto metrics_acceptor = bind(io, config.metrics_listen, "SMS_BRIDGE_METRICS_LISTEN");
  if (!public_acceptor || !metrics_acceptor) {
    log::error("{}", (!public_acceptor ? public_acceptor.error() : metrics_acceptor.error()).message);
    return 1;
  }
  if (config.hmac_secret.empty() || config.sms_api_key.empty()) {
    log::warning("the SMS API is off: set SMS_BRIDGE_HMAC_SECRET and SMS_BRIDGE_SMS_API_KEY (or SMS_BRIDGE_SECRETS_FILE).");
  }
  // Every part of the daemon, owned here and handed to the concerns that use it.
  api::socket_firewall_client helper_socket(io.get_executor(), config.firewall_socket);
  api::coalescing_firewall_client helper(io.get_executor(), helper_socket);  // a burst of reads shares one List
  api::pg_admin_store stored_admins(db);
  api::cached_admin_store admins(stored_admins);  // fed by the admin listener below
  api::pg_audit_store audit_store(db);
  api::pg_outbox_store outbox_store(db, config.hmac_secret);
  api::pg_sms_store sms_store(db, config.hmac_secret);
  api::https_backend backend(config.hmac_secret, config.backend_ca_file);
  api::settings_source settings(config.settings_file);
  const api::trusted_proxies proxies(config.trusted_proxies);
  api::basic_auth auth(admins, {}, config.hmac_secret);
  api::admin_gate gate(auth, admins, proxies, {config.require_totp, config.otp_step_up_minutes});
  api::metrics stats;
  api::health_monitor health(helper, outbox_store);
  api::audit_drain audit(helper, audit_store, stats);
  api::sms_api_context sms{sms_store, settings, proxies, stats, config.hmac_secret, config.sms_api_key, config.sms_requests_per_source};
  api::server_address_source server_address(config.server_ip, helper);
  api::pg_notification_store notification_store(db);
  api::https_notification_sender notification_sender(config.backend_ca_file);
  audit.notify_with(settings);
  audit.identify_with(server_address);
  api::monitoring_context monitoring{config, helper, settings, audit, audit_store, gate, server_address, &notification_store};
  api::metrics_history history({config.history_bytes, config.history_interval_seconds, config.history_file});
  api::route_parts parts{config, gate, health, helper, stats, sms, backend, monitoring, history};
  const auto observe = [&stats](std::string_view route, std::string_view method, unsigned status, double seconds) {
    stats.observe_request(route, method, status, seconds);
  };
  const api::router public_router = api::public_routes(parts);
  const api::router metrics_router = api::metrics_routes(parts);
  api::http_limits limits;
  limits.max_connections = config.max_connections;
  limits.max_connections_per_source = config.max_connections_per_source;
  limits.proxies = config.trusted_proxies;
  const auto executor = io.get_executor();
  auto notify = smsbridge::notify_socket::open(std::getenv("NOTIFY_SOCKET"));  // systemd's Type=notify; unset: none
  if (!notify) return log::error("{}", notify.error().message), 1;
  smsbridge::service_state manager(executor, *notify, smsbridge::watchdog_from_environment());
  api::supervise(executor, "service status", [&] { return api::report_status(health, manager); });
  api::supervise(executor, "public HTTP listener", [&] { return api::serve_http(*public_acceptor, public_router, limits, observe); });
  api::supervise(executor, "metrics HTTP listener", [&] { return api::serve_http(*metrics_acceptor, metrics_router, limits, observe); });
  if (config.monitoring_enabled && config.monitoring_worker_enabled) {
    api::supervise(executor, "audit drain", [&] { return api::run_audit_timer(audit, std::chrono::seconds(config.reconcile_interval_seconds)); });
  }
  api::outbox_delivery delivery(outbox_store, backend, settings);
  if (!config.hmac_secret.empty() && !config.sms_api_key.empty()) api::supervise(executor, "outbox delivery", [&] { return delivery.run(); });
  api::notification_delivery notifying(notification_store, notification_sender, settings, stats);
  if (config.monitoring_enabled) {
    api::supervise(executor, "webhook notifications", [&] { return notifying.run("webhook"); });
    api::supervise(executor, "ntfy notifications", [&] { return notifying.run("ntfy"); });
  }
  // The history reads PostgreSQL's health over a connection of its own, so a busy pool never
  // delays a sample and its reads never take a request's connection.
  std::optional<api::database> history_db;
  if (history.enabled()) history_db.emplace(config.database_url, 1, config.database_password);
  const auto sample = [&]() -> boost::asio::awaitable<std::string> {
    auto serving = api::metrics_text(health, helper, &sms_store, stats);
    std::string text = co_await std::move(serving);
    auto reading = api::read_postgres_health(*history_db);
    const auto pg = co_await std::move(reading);
    text += api::postgres_health_text(pg);
    co_return text;
  };
  if (history.enabled()) api::supervise(executor, "metrics history", [&] { return history.run(sample); });
  // Its own thread for the blocking connect, so a slow database never holds a request's thread.
  api::worker listener_connector(1);
  api::supervise(executor, "admin listener", [&] {
    return api::run_admin_listener(listener_connector, config.database_url, config.database_password, admins,
                                   [&auth](std::string_view payload) { auth.take_shared(payload); });
  });
  api::supervise(executor, "PIN retention", [&] { return api::wipe_stale_pins(outbox_store, config.pin_retention_seconds); });
  api::supervise(executor, "retention", [&] { return api::apply_retention(db, config.retention_days); });
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int) {
    manager.stopping();
    io.stop();
  });
  asio::signal_set reload_signal(io, SIGHUP);
  on_each_signal(reload_signal, [&] {
    manager.reloading();
    reload(config, settings);
    manager.reloaded();
  });
  std::signal(SIGPIPE, SIG_IGN);
  log::info("listening on {}:{} (public) and {}:{} (metrics)", config.listen.host,
                               public_acceptor->local_endpoint().port(), config.metrics_listen.host,
                               metrics_acceptor->local_endpoint().port());
  manager.ready();  // sent from the loop, which then accepts on both listeners
  io.run();
  log::info("stopped");
  return 0;
}
