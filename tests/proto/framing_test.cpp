// Framing of the helper protocol: round trips, the 64 KiB cap on both sides, truncation, garbage.
#include <catch2/catch.hpp>

#include "result_string_maker.hpp"

#include "proto/framing.hpp"

using namespace smsbridge;
namespace v1 = smsbridge::firewall::v1;

namespace {
v1::Request sample_open() {
  v1::Request r;
  r.set_request_id(42);
  auto* open = r.mutable_open();
  open->set_service("metrics");
  open->set_external_port(9100);
  open->set_source("10.0.0.2/32");
  open->set_duration_seconds(900);
  open->set_actor("alice");
  return r;
}

std::string header(std::size_t n) {
  return std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)};
}
}  // namespace

TEST_CASE("a request survives encoding, decoding and parsing unchanged") {
  auto frame = proto::encode_frame(sample_open());
  REQUIRE(frame);
  proto::frame_decoder d;
  d.feed(*frame);
  auto payload = d.next();
  REQUIRE(payload);
  REQUIRE(payload->has_value());
  v1::Request back;
  REQUIRE(proto::parse_payload(**payload, back));
  CHECK(back.SerializeAsString() == sample_open().SerializeAsString());
  CHECK(back.open().service() == "metrics");
  CHECK(d.finish());
}

TEST_CASE("frames fed one byte at a time are reassembled, two in a row are separated") {
  auto a = proto::encode_frame(sample_open());
  v1::Request list;
  list.mutable_list();
  auto b = proto::encode_frame(list);
  const std::string stream = *a + *b;
  proto::frame_decoder d;
  std::vector<std::string> got;
  for (char c : stream) {
    d.feed(std::string_view(&c, 1));
    auto next = d.next();
    REQUIRE(next);
    if (*next) got.push_back(**next);
  }
  REQUIRE(got.size() == 2);
  v1::Request second;
  REQUIRE(proto::parse_payload(got[1], second));
  CHECK(second.verb_case() == v1::Request::kList);
}

TEST_CASE("the sender refuses a message over 64 KiB") {
  v1::Request r;
  r.mutable_open()->set_actor(std::string(proto::max_frame_payload + 1, 'x'));
  auto frame = proto::encode_frame(r);
  REQUIRE_FALSE(frame);
  CHECK(frame.error() == proto::frame_error::oversize);
}

TEST_CASE("the receiver refuses an oversize length as soon as it sees the header") {
  proto::frame_decoder d;
  d.feed(header(proto::max_frame_payload + 1));
  auto next = d.next();
  REQUIRE_FALSE(next);
  CHECK(next.error() == proto::frame_error::oversize);
  // Poisoned: nothing more is accepted on this connection.
  d.feed(*proto::encode_frame(sample_open()));
  CHECK_FALSE(d.next());
}

TEST_CASE("a payload of exactly 64 KiB is accepted") {
  proto::frame_decoder d;
  d.feed(header(proto::max_frame_payload));
  d.feed(std::string(proto::max_frame_payload, '\0'));
  auto next = d.next();
  REQUIRE(next);
  REQUIRE(next->has_value());
  CHECK((*next)->size() == proto::max_frame_payload);
}

TEST_CASE("a stream that ends inside a frame is truncated") {
  auto frame = proto::encode_frame(sample_open());
  proto::frame_decoder d;
  d.feed(std::string_view(*frame).substr(0, frame->size() - 3));
  auto next = d.next();
  REQUIRE(next);
  CHECK_FALSE(next->has_value());
  auto end = d.finish();
  REQUIRE_FALSE(end);
  CHECK(end.error() == proto::frame_error::truncated);
  CHECK(d.wanted() == 3);
}

TEST_CASE("garbage bytes do not parse as a request") {
  v1::Request r;
  auto parsed = proto::parse_payload(std::string("\xff\xff\xff\xff\xff\xff\xff", 7), r);
  REQUIRE_FALSE(parsed);
  CHECK(parsed.error() == proto::frame_error::garbage);
}

TEST_CASE("a request with an unknown oneof case parses with no verb set") {
  // Field 99, length-delimited, empty: a verb from a newer client.
  const std::string payload = std::string("\x08\x07", 2) + std::string("\x9a\x06\x00", 3);
  v1::Request r;
  REQUIRE(proto::parse_payload(payload, r));
  CHECK(r.request_id() == 7);
  CHECK(r.verb_case() == v1::Request::VERB_NOT_SET);
}
