// The helper's I/O shell: Asio on one thread. Accepts bounded, credential-checked clients, reads
// length-capped frames with an idle timeout, keeps one timer for the earliest deadline and one
// reconcile timer that runs only while doors are open, and reconciles as soon as nf_tables
// reports that another process changed our table (no polling: no wake-ups while nothing changes).
#include "firewall-helper/server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <exception>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "common/log.hpp"
#include "common/service_state.hpp"
#include "firewall-helper/nft_notices.hpp"
#include "firewall-helper/ruleset.hpp"
#include "proto/framing.hpp"

namespace smsbridge::firewall {

namespace {
namespace asio = boost::asio;
using asio::awaitable;
using asio::local::stream_protocol;
using namespace asio::experimental::awaitable_operators;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

class helper_server {
 public:
  helper_server(asio::io_context& io, helper_config& config, std::string config_path, firewall_service& service,
                service_notifier& notifier, std::optional<std::chrono::microseconds> watchdog)
      : io_(io), config_(config), config_path_(std::move(config_path)), service_(service),
        manager_(io.get_executor(), notifier, watchdog), acceptor_(io), expiry_timer_(io),
        reconcile_timer_(io), signals_(io, SIGTERM, SIGINT), reload_signal_(io, SIGHUP), notices_(io),
        notice_filter_(config.table, static_cast<std::uint32_t>(::getpid())) {}

  fallible<void> listen();
  void run();

 private:
  awaitable<void> accept_loop();
  awaitable<void> notice_loop();
  awaitable<void> session(stream_protocol::socket socket, peer_identity peer);
  awaitable<bool> send(stream_protocol::socket& socket, const v1::Response& response);
  void after_change();
  void await_reload();
  void reload();
  void on_exception(std::exception_ptr e, std::string_view where);
  void arm_expiry();
  void arm_reconcile();

  asio::io_context& io_;
  helper_config& config_;  // the service reads the same object: a reload replaces it in place
  const std::string config_path_;
  firewall_service& service_;
  service_state manager_;  // what systemd is told: readiness, doors open, watchdog pings
  stream_protocol::acceptor acceptor_;
  asio::steady_timer expiry_timer_;  // monotonic, like the service's deadlines
  std::optional<std::int64_t> expiry_armed_for_;
  asio::steady_timer reconcile_timer_;
  bool reconcile_armed_ = false;
  asio::signal_set signals_;
  asio::signal_set reload_signal_;
  asio::posix::stream_descriptor notices_;
  nft_notice_filter notice_filter_;
  unsigned clients_ = 0;
};

fallible<void> helper_server::listen() {
  const std::string& path = config_.socket_path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return fail(fmt::format("{} exists and is not a socket; remove it or choose another 'socket'.", path));
    stream_protocol::socket probe(io_);
    boost::system::error_code ec;
    probe.connect(stream_protocol::endpoint(path), ec);
    if (!ec) return fail(fmt::format("another firewall helper is already serving {}.", path));
    ::unlink(path.c_str());  // a stale socket from a helper that died
  }
  boost::system::error_code ec;
  acceptor_.open(stream_protocol(), ec);
  // Created owner-only, then widened to socket_mode: no moment with a wider mode than configured.
  const mode_t old_mask = ::umask(0177);
  if (!ec) acceptor_.bind(stream_protocol::endpoint(path), ec);
  ::umask(old_mask);
  if (ec) return fail(fmt::format("cannot create the socket {}: {}.", path, ec.message()));
  if (::chmod(path.c_str(), config_.socket_mode) != 0) return fail(fmt::format("cannot set the mode of {}.", path));
  acceptor_.listen(static_cast<int>(config_.max_clients), ec);
  if (ec) return fail(fmt::format("cannot listen on {}: {}.", path, ec.message()));
  return {};
}

void helper_server::run() {
  signals_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    manager_.stopping();
    service_.shutdown();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    ::unlink(config_.socket_path.c_str());
    io_.stop();
  });
  await_reload();
  asio::co_spawn(io_, accept_loop(), [this](std::exception_ptr e) { on_exception(e, "the accept loop"); });
  // Subscribed before the first reconcile below, so no change between the two goes unseen.
  if (auto fd = open_nft_notice_socket(); fd) {
    notices_.assign(*fd);
    asio::co_spawn(io_, notice_loop(), [this](std::exception_ptr e) { on_exception(e, "the nf_tables notice loop"); });
  } else {
    log::warning("{}; drift is repaired only by the periodic reconciler and the next Open", fd.error());
  }
  service_.reconcile();
  after_change();
  manager_.ready();  // the table is installed and reconciled, the socket listens
  io_.run();
}

awaitable<void> helper_server::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // A transient accept failure must not end the helper. Out of descriptors or memory, the
      // connection stays queued and the socket readable: pause instead of spinning a core.
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
          ec.value() == ENFILE) {
        asio::steady_timer backoff(io_, std::chrono::milliseconds(100));
        co_await backoff.async_wait(use_tuple);
      }
      continue;
    }
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) continue;
    peer_identity peer{cred.uid, cred.gid, cred.pid};
    if (clients_ >= config_.max_clients) {
      service_.count_refused_connection();
      // Tell the client why before closing; a non-blocking best effort.
      auto frame = proto::encode_frame(firewall_service::error_response(
          0, v1::RESOURCE_EXHAUSTED, fmt::format("The helper already serves {} clients; try again.", config_.max_clients)));
      socket.non_blocking(true);
      boost::system::error_code ignored;
      if (frame) socket.write_some(asio::buffer(*frame), ignored);
      continue;
    }
    // One catch per entry point: a bug in one session ends that session and is logged.
    asio::co_spawn(io_, session(std::move(socket), peer), [this](std::exception_ptr e) { on_exception(e, "a client session"); });
  }
}

awaitable<void> helper_server::notice_loop() {
  for (;;) {
    auto [ec] = co_await notices_.async_wait(asio::posix::descriptor_base::wait_read, use_tuple);
    if (ec) co_return;
    const auto drained = drain_nft_notices(notices_.native_handle(), notice_filter_);
    // Another process touched our table (nft flush ruleset, a hand edit): compare and repair now,
    // doors or not. Our own changes are told apart by the committing pid and wake nothing more.
    if (drained.changed || drained.overrun) {
      service_.reconcile();
      after_change();
    }
  }
}

awaitable<bool> helper_server::send(stream_protocol::socket& socket, const v1::Response& response) {
  auto frame = proto::encode_frame(response);
  if (!frame) {
    frame = proto::encode_frame(firewall_service::error_response(response.request_id(), v1::INTERNAL,
                                                                 "The answer was larger than the 64 KiB frame limit."));
  }
  asio::steady_timer timer(io_, std::chrono::seconds(config_.client_timeout_seconds));
  auto result = co_await (asio::async_write(socket, asio::buffer(*frame), use_tuple) || timer.async_wait(use_tuple));
  co_return result.index() == 0 && !std::get<0>(std::get<0>(result));
}

awaitable<void> helper_server::session(stream_protocol::socket socket, peer_identity peer) {
  ++clients_;
  struct release {
    unsigned& count;
    ~release() { --count; }
  } released{clients_};
  service_.count_connection();
  const bool allowed = service_.peer_allowed(peer);
  if (!allowed) service_.count_refused_connection();
  proto::frame_decoder decoder;
  std::array<char, 16384> buffer;
  asio::steady_timer idle(io_);
  bool open = true;
  while (open) {
    idle.expires_after(std::chrono::seconds(config_.client_timeout_seconds));
    auto result = co_await (socket.async_read_some(asio::buffer(buffer), use_tuple) || idle.async_wait(use_tuple));
    if (result.index() == 1) break;  // idle too long
    auto [ec, n] = std::get<0>(result);
    if (ec) {
      if (!decoder.finish()) service_.count_bad_frame();
      break;
    }
    decoder.feed(std::string_view(buffer.data(), n));
    for (;;) {
      auto next = decoder.next();
      if (!next) {
        // A malformed frame ends this connection, never the helper.
        service_.count_bad_frame();
        co_await send(socket, firewall_service::error_response(0, v1::INVALID_ARGUMENT, std::string(proto::describe(next.error()))));
        open = false;
        break;
      }
      if (!*next) break;
      v1::Request request;
      if (!proto::parse_payload(**next, request)) {
        service_.count_bad_frame();
        co_await send(socket, firewall_service::error_response(0, v1::INVALID_ARGUMENT, std::string(proto::describe(proto::frame_error::garbage))));
        open = false;
        break;
      }
      const v1::Response response = service_.handle(request, peer);
      after_change();
      if (!co_await send(socket, response) || !allowed) {
        open = false;
        break;
      }
    }
  }
  boost::system::error_code ignored;
  socket.close(ignored);
}

void helper_server::await_reload() {
  reload_signal_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    manager_.reloading();
    reload();
    manager_.reloaded();
    await_reload();
  });
}

void helper_server::reload() {
  auto next = load_config(config_path_);
  if (!next) {
    log::warning("reload: {}; the running config is kept.", next.error());
    return;
  }
  if (auto why = reload_refusal(config_, *next)) {
    log::warning("reload: {}", *why);
    return;
  }
  const bool skeleton_changed = !same_skeleton(config_, *next);
  config_ = std::move(*next);
  const std::size_t closed = service_.revalidate_doors(skeleton_changed);
  log::notice("reloaded {} ({} services, digest {}): {} door(s) kept, {} closed", config_path_, config_.services.size(),
              config_.digest.substr(0, 12), service_.live_grants(), closed);
  after_change();
}

void helper_server::on_exception(std::exception_ptr e, std::string_view where) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    log::error("{} failed: {}", where, x.what());
  } catch (...) {
    log::error("{} failed with an unknown exception", where);
  }
}

void helper_server::after_change() {
  if (service_.take_reconcile_request()) service_.reconcile();
  arm_expiry();
  arm_reconcile();
  const auto doors = service_.live_grants();
  manager_.status(fmt::format("{} door{} open", doors, doors == 1 ? "" : "s"));
}

void helper_server::arm_expiry() {
  const auto next = service_.next_deadline_ms();
  if (next == expiry_armed_for_) return;
  expiry_armed_for_ = next;
  if (!next) {
    expiry_timer_.cancel();
    return;
  }
  expiry_timer_.expires_at(std::chrono::steady_clock::time_point(std::chrono::milliseconds(*next)));
  expiry_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // re-armed or cancelled
    expiry_armed_for_.reset();
    service_.expire_due();
    after_change();
  });
}

void helper_server::arm_reconcile() {
  if (service_.live_grants() == 0) {
    if (reconcile_armed_) reconcile_timer_.cancel();
    reconcile_armed_ = false;
    return;
  }
  if (reconcile_armed_) return;
  reconcile_armed_ = true;
  reconcile_timer_.expires_after(std::chrono::seconds(config_.reconcile_interval_seconds));
  reconcile_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    reconcile_armed_ = false;
    service_.reconcile();
    after_change();
  });
}
}  // namespace

fallible<void> serve(helper_config& config, const std::string& config_path, firewall_service& service, service_notifier& notifier,
                     std::optional<std::chrono::microseconds> watchdog) {
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  helper_server server(io, config, config_path, service, notifier, watchdog);
  if (auto r = server.listen(); !r) return r;
  server.run();
  return {};
}

}  // namespace smsbridge::firewall
