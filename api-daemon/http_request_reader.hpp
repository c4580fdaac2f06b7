// One connection's request reading state: a size-capped buffer and a parser whose limits cover
// every part of a request, because Beast's header limit counts neither chunk extensions nor trailers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace smsbridge::api {

struct http_limits {
  std::size_t body_bytes = 64 * 1024;
  std::uint32_t header_bytes = 16 * 1024;  // a request with 10,000 headers is refused (431)
  std::chrono::seconds timeout{30};        // per read and per write
  // Connections at once: in total (well under the units' LimitNOFILE of 8192, leaving room for
  // the database, logs and the helper), and per source address (loopback and `proxies` exempt).
  std::size_t max_connections = 2048;
  std::size_t max_connections_per_source = 64;
  std::vector<std::string> proxies;  // CIDRs, e.g. SMS_BRIDGE_TRUSTED_PROXIES
};

// What one connection may hold at any moment: the parser's body (at most body_bytes) plus a read
// buffer of at most header_bytes + read_slack_bytes. A request line, chunk-size line or trailer
// that does not fit in the buffer ends the read (buffer_overflow), so an endless one costs at most
// that much memory however long the client keeps sending.
inline constexpr std::size_t read_slack_bytes = 16 * 1024;

class request_reader {
 public:
  explicit request_reader(http_limits limits);
  request_reader(const request_reader&) = delete;  // the parser holds a reference to on_chunk_
  request_reader& operator=(const request_reader&) = delete;

  // A fresh parser for the next request of the connection (buffered bytes stay: pipelining).
  void next();
  boost::beast::flat_buffer& buffer() { return buffer_; }
  boost::beast::http::request_parser<boost::beast::http::string_body>& parser() { return *parser_; }

  // Feeds bytes the way Beast's read does from a socket, for tests and fuzzing: success once a
  // request is complete, need_more while it is not, or the error that ends the read.
  boost::beast::error_code feed(std::string_view bytes);

  // The answer to a read that ended with `ec` (not a clean end of stream): a 4xx status and a
  // sentence for the client.
  std::pair<boost::beast::http::status, std::string> refusal(boost::beast::error_code ec) const;

 private:
  http_limits limits_;
  boost::beast::flat_buffer buffer_;
  std::size_t extension_bytes_ = 0;  // of this request's chunk extensions, against header_bytes
  std::function<void(std::uint64_t, boost::beast::string_view, boost::beast::error_code&)> on_chunk_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
};

}  // namespace smsbridge::api
