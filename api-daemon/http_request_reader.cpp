// Request reading with every byte a client sends counted against a limit (see the header).
#include "api-daemon/http_request_reader.hpp"

#include <algorithm>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/error.hpp>
#include <fmt/format.h>

namespace smsbridge::api {

namespace beast = boost::beast;
namespace http = beast::http;

request_reader::request_reader(http_limits limits) : limits_(limits), buffer_(limits.header_bytes + read_slack_bytes) {
  on_chunk_ = [this](std::uint64_t, beast::string_view extensions, beast::error_code& ec) {
    // Each chunk's extensions are bounded only by the buffer; many chunks with long extensions
    // would otherwise stream without end while the body limit counts one byte per chunk.
    extension_bytes_ += extensions.size();
    if (extension_bytes_ > limits_.header_bytes) ec = http::error::bad_chunk_extension;
  };
  next();
}

void request_reader::next() {
  extension_bytes_ = 0;
  parser_.emplace();
  parser_->body_limit(limits_.body_bytes);
  parser_->header_limit(limits_.header_bytes);
  parser_->on_chunk_header(on_chunk_);
}

beast::error_code request_reader::feed(std::string_view bytes) {
  parser_->eager(true);
  beast::error_code ec;
  for (;;) {
    // put() parses what it can; success without is_done() means "progress, call again".
    while (buffer_.size() > 0 && !parser_->is_done()) {
      const auto used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more || (!ec && used == 0)) break;
      if (ec) return ec;
    }
    if (parser_->is_done()) return {};
    if (bytes.empty()) return http::error::need_more;
    const auto room = buffer_.max_size() - buffer_.size();
    if (room == 0) return http::error::buffer_overflow;
    const auto n = std::min(room, bytes.size());
    buffer_.commit(boost::asio::buffer_copy(buffer_.prepare(n), boost::asio::buffer(bytes.data(), n)));
    bytes.remove_prefix(n);
  }
}

std::pair<http::status, std::string> request_reader::refusal(beast::error_code ec) const {
  if (ec == http::error::body_limit)
    return {http::status::payload_too_large, fmt::format("The request body is larger than {} bytes.", limits_.body_bytes)};
  if (ec == http::error::header_limit) {
    // A request line that alone passes the limit is a malformed request, not too many headers.
    const auto held = boost::beast::buffers_to_string(buffer_.data());
    if (held.find("\r\n") == std::string::npos)
      return {http::status::bad_request, fmt::format("The request line is longer than {} bytes.", limits_.header_bytes)};
    return {http::status::request_header_fields_too_large, "The request headers are too large."};
  }
  if (ec == http::error::bad_chunk_extension && extension_bytes_ > limits_.header_bytes)
    return {http::status::bad_request, fmt::format("The request's chunk extensions are longer than {} bytes.", limits_.header_bytes)};
  if (ec == http::error::buffer_overflow)
    return {http::status::bad_request,
            fmt::format("A line or the trailer of the request is longer than {} bytes.", limits_.header_bytes + read_slack_bytes)};
  return {http::status::bad_request, "The request is not valid HTTP."};
}

}  // namespace smsbridge::api
