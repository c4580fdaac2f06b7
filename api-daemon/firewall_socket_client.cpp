// The helper protocol (proto/framing.hpp) over Asio's asynchronous Unix sockets.
#include "api-daemon/firewall_socket_client.hpp"

#include <algorithm>
#include <array>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "proto/framing.hpp"

namespace smsbridge::api {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct exchanged {
  std::string payload;       // one response frame, when `error` is empty
  std::string error;         // a sentence
  bool answered_nothing = false;  // the connection ended before any byte of an answer came
};

// Writes one frame and reads one frame back. Cancelled (and the socket then dropped) when the
// caller's deadline passes first.
asio::awaitable<exchanged> send_and_receive(asio::local::stream_protocol::socket& s, const std::string& frame) {
  auto [write_error, written] = co_await asio::async_write(s, asio::buffer(frame), use_tuple);
  (void)written;
  if (write_error) co_return exchanged{{}, fmt::format("cannot send: {}", write_error.message()), true};
  proto::frame_decoder decoder;
  std::array<char, 16384> buffer;
  bool received = false;
  for (;;) {
    auto next = decoder.next();
    if (!next) co_return exchanged{{}, fmt::format("it sent a bad frame: {}", proto::describe(next.error())), false};
    if (*next) co_return exchanged{std::move(**next), {}, false};
    auto [read_error, n] = co_await s.async_read_some(asio::buffer(buffer.data(), std::min(buffer.size(), decoder.wanted())), use_tuple);
    if (read_error) {
      co_return exchanged{{}, read_error == asio::error::eof ? "it closed the connection" : read_error.message(), !received};
    }
    received = true;
    decoder.feed(std::string_view(buffer.data(), n));
  }
}
}  // namespace

socket_firewall_client::socket_firewall_client(asio::any_io_executor executor, std::string socket_path,
                                               std::chrono::milliseconds deadline, std::size_t connections)
    : executor_(std::move(executor)), path_(std::move(socket_path)), deadline_(deadline), max_open_(std::max<std::size_t>(1, connections)) {}

void socket_firewall_client::release(std::unique_ptr<socket> kept) {
  if (!waiters_.empty()) {
    waiter* next = waiters_.front();
    waiters_.pop_front();
    if (kept) next->handed = std::move(kept);
    else next->may_open = true;  // the dropped connection's slot passes on: open_ stays
    next->wake.cancel();
    return;
  }
  if (kept) idle_.push_back(std::move(kept));
  else --open_;
}

asio::awaitable<helper_result<socket_firewall_client::lease>> socket_firewall_client::acquire(
    std::chrono::steady_clock::time_point deadline) {
  if (!idle_.empty() && waiters_.empty()) {
    auto s = std::move(idle_.back());
    idle_.pop_back();
    co_return lease{std::move(s), true};
  }
  if (open_ < max_open_ && waiters_.empty()) {
    ++open_;  // a new connection's slot, given back by release(nullptr) if it fails
  } else {
    waiter me{asio::steady_timer(executor_), nullptr, false};
    me.wake.expires_at(deadline);
    waiters_.push_back(&me);
    co_await me.wake.async_wait(use_tuple);  // cancelled by release(), or the deadline
    if (me.handed) co_return lease{std::move(me.handed), true};
    if (!me.may_open) {
      std::erase(waiters_, &me);
      co_return unreachable_refusal(fmt::format("the firewall helper at {} is busy: no connection came free in time.", path_));
    }
  }
  auto s = std::make_unique<socket>(executor_);
  asio::steady_timer timer(executor_);
  timer.expires_at(deadline);
  auto connecting = s->async_connect(asio::local::stream_protocol::endpoint(path_), use_tuple);
  auto waiting = timer.async_wait(use_tuple);
  auto connected = co_await (std::move(connecting) || std::move(waiting));
  if (connected.index() == 1) {
    release(nullptr);
    co_return unreachable_refusal(fmt::format("the firewall helper at {} did not accept in time.", path_));
  }
  if (auto [ec] = std::get<0>(connected); ec) {
    release(nullptr);
    co_return unreachable_refusal(fmt::format("cannot connect to the firewall helper at {}: {}.", path_, ec.message()));
  }
  co_return lease{std::move(s), false};
}

asio::awaitable<helper_result<v1::Response>> socket_firewall_client::call(v1::Request request) {
  const std::uint64_t id = next_id_++;
  request.set_request_id(id);
  auto frame = proto::encode_frame(request);
  if (!frame) co_return refusal{v1::INVALID_ARGUMENT, "The request is too large for the firewall helper.", false};
  // A kept connection may have been closed by the helper while it sat idle (its client timeout):
  // then nothing was read by the helper, and the call goes once more on a fresh connection.
  const auto deadline = std::chrono::steady_clock::now() + deadline_;
  asio::steady_timer timer(executor_);
  timer.expires_at(deadline);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto acquiring = acquire(deadline);
    auto leased = co_await std::move(acquiring);
    if (!leased) co_return leased.error();
    const bool reused = leased->reused;
    std::unique_ptr<socket> s = std::move(leased->s);
    auto exchanging = send_and_receive(*s, *frame);
    auto waiting = timer.async_wait(use_tuple);
    auto outcome = co_await (std::move(exchanging) || std::move(waiting));
    if (outcome.index() == 1) {
      release(nullptr);  // a half-read answer may still arrive: the connection cannot be reused
      co_return unreachable_refusal(fmt::format("the firewall helper at {} did not answer in time.", path_));
    }
    auto answer = std::get<0>(std::move(outcome));
    if (!answer.error.empty()) {
      release(nullptr);
      if (reused && answer.answered_nothing) continue;
      co_return unreachable_refusal(fmt::format("the firewall helper at {}: {}.", path_, answer.error));
    }
    v1::Response response;
    if (!proto::parse_payload(answer.payload, response) || (response.request_id() != id && !response.has_error())) {
      release(nullptr);
      co_return unreachable_refusal(fmt::format("the firewall helper at {} sent an unreadable response.", path_));
    }
    release(std::move(s));
    if (response.has_error()) co_return refusal{response.error().code(), response.error().message(), false};
    co_return response;
  }
  co_return unreachable_refusal(fmt::format("the firewall helper at {} keeps closing the connection.", path_));
}

namespace {
// The part of a response a verb expects; a response of another kind is a protocol fault.
template <class T, class Has, class Get>
helper_result<T> part(helper_result<v1::Response>&& r, Has has, Get get) {
  if (!r) return r.error();
  if (!has(*r)) return unreachable_refusal("the firewall helper answered another kind of response.");
  return std::move(get(*r));
}

void fill_open(v1::OpenRequest& out, open_request&& o) {
  out.set_service(std::move(o.service));
  out.set_external_port(o.external_port);
  out.set_source(std::move(o.source));
  out.set_duration_seconds(o.duration_seconds);
  out.set_actor(std::move(o.actor));
  out.set_reason(std::move(o.reason));
}
}  // namespace

asio::awaitable<helper_result<v1::Grant>> socket_firewall_client::open(open_request o) {
  v1::Request request;
  fill_open(*request.mutable_open(), std::move(o));
  auto step = call(std::move(request));
  auto r = co_await std::move(step);
  co_return part<v1::Grant>(std::move(r), [](auto& x) { return x.has_open(); }, [](auto& x) -> v1::Grant& { return *x.mutable_open()->mutable_grant(); });
}

asio::awaitable<helper_result<std::vector<helper_result<v1::Grant>>>> socket_firewall_client::open_many(std::vector<open_request> doors) {
  const std::size_t asked = doors.size();
  v1::Request request;
  for (auto& o : doors) fill_open(*request.mutable_open_many()->add_doors(), std::move(o));
  auto step = call(std::move(request));
  auto r = co_await std::move(step);
  if (!r) co_return r.error();
  if (!r->has_open_many() || static_cast<std::size_t>(r->open_many().outcomes_size()) != asked) {
    co_return unreachable_refusal("the firewall helper answered an open-many with another kind of response.");
  }
  std::vector<helper_result<v1::Grant>> out;
  for (auto& outcome : *r->mutable_open_many()->mutable_outcomes()) {
    if (outcome.has_grant()) out.emplace_back(std::move(*outcome.mutable_grant()));
    else out.emplace_back(refusal{outcome.error().code(), outcome.error().message(), false});
  }
  co_return out;
}

asio::awaitable<helper_result<v1::ExtendResult>> socket_firewall_client::extend(extend_request e) {
  v1::Request request;
  auto* extend = request.mutable_extend();
  extend->set_service(std::move(e.service));
  extend->set_duration_seconds(e.duration_seconds);
  extend->set_actor(std::move(e.actor));
  extend->set_reason(std::move(e.reason));
  auto step = call(std::move(request));
  auto r = co_await std::move(step);
  co_return part<v1::ExtendResult>(std::move(r), [](auto& x) { return x.has_extend(); },
                                   [](auto& x) -> v1::ExtendResult& { return *x.mutable_extend(); });
}

asio::awaitable<helper_result<v1::Grant>> socket_firewall_client::close(std::string service, std::string actor, std::string reason) {
  v1::Request request;
  request.mutable_close()->set_service(std::move(service));
  request.mutable_close()->set_actor(std::move(actor));
  request.mutable_close()->set_reason(std::move(reason));
  auto step = call(std::move(request));
  auto r = co_await std::move(step);
  co_return part<v1::Grant>(std::move(r), [](auto& x) { return x.has_close(); }, [](auto& x) -> v1::Grant& { return *x.mutable_close()->mutable_grant(); });
}

asio::awaitable<helper_result<v1::CloseAllResult>> socket_firewall_client::close_all(std::string actor, std::string reason) {
  v1::Request request;
  request.mutable_close_all()->set_actor(std::move(actor));
  request.mutable_close_all()->set_reason(std::move(reason));
  auto step = call(std::move(request));
  auto r = co_await std::move(step);
  co_return part<v1::CloseAllResult>(std::move(r), [](auto& x) { return x.has_close_all(); },
                                     [](auto& x) -> v1::CloseAllResult& { return *x.mutable_close_all(); });
}

asio::awaitable<helper_result<v1::ListResult>> socket_firewall_client::list(std::string after_service) {
  v1::Request request;
  request.mutable_list()->set_after_service(std::move(after_service));
  auto step = call(std::move(request));
  auto r = co_await std::move(step);
  co_return part<v1::ListResult>(std::move(r), [](auto& x) { return x.has_list(); }, [](auto& x) -> v1::ListResult& { return *x.mutable_list(); });
}

asio::awaitable<helper_result<v1::StatusResult>> socket_firewall_client::status() {
  v1::Request request;
  request.mutable_status();
  auto step = call(std::move(request));
  auto r = co_await std::move(step);
  co_return part<v1::StatusResult>(std::move(r), [](auto& x) { return x.has_status(); },
                                   [](auto& x) -> v1::StatusResult& { return *x.mutable_status(); });
}

asio::awaitable<helper_result<v1::PortsResult>> socket_firewall_client::check_ports(std::vector<std::uint32_t> ports) {
  v1::Request request;
  for (auto p : ports) request.mutable_check_ports()->add_ports(p);
  auto step = call(std::move(request));
  auto r = co_await std::move(step);
  co_return part<v1::PortsResult>(std::move(r), [](auto& x) { return x.has_check_ports(); },
                                  [](auto& x) -> v1::PortsResult& { return *x.mutable_check_ports(); });
}

asio::awaitable<helper_result<v1::PortsResult>> socket_firewall_client::scan_ports(std::uint32_t start, std::uint32_t end,
                                                                                  std::uint32_t count) {
  v1::Request request;
  request.mutable_scan_ports()->set_start(start);
  request.mutable_scan_ports()->set_end(end);
  request.mutable_scan_ports()->set_count(count);
  auto step = call(std::move(request));
  auto r = co_await std::move(step);
  co_return part<v1::PortsResult>(std::move(r), [](auto& x) { return x.has_scan_ports(); },
                                  [](auto& x) -> v1::PortsResult& { return *x.mutable_scan_ports(); });
}

asio::awaitable<helper_result<v1::EventsResult>> socket_firewall_client::events(std::uint32_t max) {
  v1::Request request;
  request.mutable_events()->set_max(max);
  auto step = call(std::move(request));
  auto r = co_await std::move(step);
  co_return part<v1::EventsResult>(std::move(r), [](auto& x) { return x.has_events(); },
                                   [](auto& x) -> v1::EventsResult& { return *x.mutable_events(); });
}

asio::awaitable<helper_result<v1::AckResult>> socket_firewall_client::ack(std::uint64_t seq) {
  v1::Request request;
  request.mutable_ack()->set_seq(seq);
  auto step = call(std::move(request));
  auto r = co_await std::move(step);
  co_return part<v1::AckResult>(std::move(r), [](auto& x) { return x.has_ack(); }, [](auto& x) -> v1::AckResult& { return *x.mutable_ack(); });
}

}  // namespace smsbridge::api
