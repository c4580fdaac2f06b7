// A blocking client of the helper protocol over Asio's synchronous Unix sockets, with send and
// receive timeouts so a stuck helper cannot hang the caller.
#include "proto/helper_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <array>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "proto/framing.hpp"

namespace smsbridge::firewall {

namespace asio = boost::asio;
using asio::local::stream_protocol;

struct helper_client::impl {
  asio::io_context io{1};
  stream_protocol::socket socket{io};
  std::string path;
  std::uint64_t next_id = 1;
};

helper_client::helper_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
helper_client::helper_client(helper_client&&) noexcept = default;
helper_client& helper_client::operator=(helper_client&&) noexcept = default;
helper_client::~helper_client() = default;

fallible<helper_client> helper_client::connect(const std::string& socket_path,
                                                                         std::chrono::milliseconds timeout) {
  auto p = std::make_unique<impl>();
  p->path = socket_path;
  boost::system::error_code ec;
  p->socket.connect(stream_protocol::endpoint(socket_path), ec);
  if (ec) return fail(fmt::format("cannot connect to the firewall helper at {}: {}.", socket_path, ec.message()));
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(p->socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(p->socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return helper_client(std::move(p));
}

fallible<v1::Response> helper_client::call(v1::Request request) {
  request.set_request_id(impl_->next_id++);
  auto frame = proto::encode_frame(request);
  if (!frame) return fail(std::string(proto::describe(frame.error())));
  boost::system::error_code ec;
  asio::write(impl_->socket, asio::buffer(*frame), ec);
  if (ec) return fail(fmt::format("cannot send to the firewall helper at {}: {}.", impl_->path, ec.message()));
  proto::frame_decoder decoder;
  std::array<char, 16384> buffer;
  for (;;) {
    auto next = decoder.next();
    if (!next) return fail(fmt::format("the firewall helper sent a bad frame: {}", proto::describe(next.error())));
    if (*next) {
      v1::Response response;
      if (!proto::parse_payload(**next, response)) return fail("the firewall helper sent an unreadable response.");
      return response;
    }
    const std::size_t n = impl_->socket.read_some(asio::buffer(buffer.data(), std::min(buffer.size(), decoder.wanted())), ec);
    if (ec == asio::error::eof) return fail(fmt::format("the firewall helper at {} closed the connection.", impl_->path));
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      return fail(fmt::format("the firewall helper at {} did not answer in time.", impl_->path));
    }
    if (ec) return fail(fmt::format("cannot read from the firewall helper at {}: {}.", impl_->path, ec.message()));
    decoder.feed(std::string_view(buffer.data(), n));
  }
}

}  // namespace smsbridge::firewall
