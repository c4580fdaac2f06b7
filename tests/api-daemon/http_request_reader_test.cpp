// Request reading: floods of request line, chunk extensions or trailer end the read within 64 KiB
// past the header limit, while ordinary requests (a body larger than the buffer, chunks, a short
// trailer, pipelining) still parse.
#include <catch2/catch.hpp>

#include <string>

#include <boost/beast/http/error.hpp>

#include "api-daemon/http_request_reader.hpp"

using namespace smsbridge::api;
namespace http = boost::beast::http;

namespace {
struct flood_result {
  boost::beast::error_code ec;
  std::size_t fed = 0;  // bytes fed when the read ended
};

// Feeds `head`, then `piece` again and again (up to 4 MiB), as a client that never stops would.
flood_result flood(request_reader& reader, const std::string& head, const std::string& piece) {
  flood_result r;
  r.ec = reader.feed(head);
  r.fed = head.size();
  while (r.ec == http::error::need_more && r.fed < (4u << 20)) {
    r.ec = reader.feed(piece);
    r.fed += piece.size();
  }
  return r;
}

const std::string chunked_head = "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
const std::size_t bound = http_limits{}.header_bytes + 64 * 1024;
}  // namespace

TEST_CASE("an endless chunk extension is refused with a 400 within 64 KiB past the header limit") {
  request_reader reader(http_limits{});
  const auto r = flood(reader, chunked_head + "1;", std::string(4096, 'a'));
  CHECK(r.ec == http::error::buffer_overflow);
  CHECK(r.fed <= bound);
  CHECK(reader.refusal(r.ec).first == http::status::bad_request);
  CHECK(reader.buffer().size() <= http_limits{}.header_bytes + read_slack_bytes);
}

TEST_CASE("an endless trailer is refused with a 400 within 64 KiB past the header limit") {
  request_reader reader(http_limits{});
  const auto r = flood(reader, chunked_head + "1\r\nx\r\n0\r\nX-Trailer: ", std::string(4096, 'b'));
  CHECK(r.ec == http::error::buffer_overflow);
  CHECK(r.fed <= bound);
  CHECK(reader.refusal(r.ec).first == http::status::bad_request);
}

TEST_CASE("an endless trailer of short fields is refused too") {
  request_reader reader(http_limits{});
  const auto r = flood(reader, chunked_head + "1\r\nx\r\n0\r\n", "X-T: v\r\n");
  CHECK(r.ec);
  CHECK(r.ec != http::error::need_more);
  CHECK(r.fed <= bound);
  CHECK(reader.refusal(r.ec).first == http::status::bad_request);
}

TEST_CASE("an endless request line is refused with a 400 within 64 KiB past the header limit") {
  request_reader reader(http_limits{});
  const auto r = flood(reader, "GET /", std::string(4096, 'c'));
  CHECK(r.ec != http::error::need_more);
  CHECK(r.fed <= bound);
  CHECK(reader.refusal(r.ec).first == http::status::bad_request);
}

TEST_CASE("many chunks with long extensions are refused once their extensions pass the header limit") {
  request_reader reader(http_limits{});
  const auto r = flood(reader, chunked_head, "1;" + std::string(4000, 'e') + "\r\nx\r\n");
  CHECK(r.ec == http::error::bad_chunk_extension);
  CHECK(r.fed <= bound);
  const auto [status, sentence] = reader.refusal(r.ec);
  CHECK(status == http::status::bad_request);
  CHECK(sentence.find("chunk extensions") != std::string::npos);
}

TEST_CASE("a body larger than the read buffer, small chunks with extensions and a trailer still parse") {
  request_reader reader(http_limits{});
  const std::string body(60 * 1024, 'z');
  REQUIRE(body.size() > http_limits{}.header_bytes + read_slack_bytes);
  auto ec = reader.feed("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  REQUIRE_FALSE(ec);
  CHECK(reader.parser().get().body() == body);
  reader.next();
  ec = reader.feed(chunked_head + "3;name=value\r\nabc\r\n2\r\nde\r\n0\r\nX-Checksum: 1\r\n\r\n");
  REQUIRE_FALSE(ec);
  CHECK(reader.parser().get().body() == "abcde");
}

TEST_CASE("pipelined requests are read one after the other") {
  request_reader reader(http_limits{});
  auto ec = reader.feed("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE_FALSE(ec);
  CHECK(reader.parser().get().target() == "/a");
  reader.next();
  ec = reader.feed("");
  REQUIRE_FALSE(ec);
  CHECK(reader.parser().get().target() == "/b");
}
