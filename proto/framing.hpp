// Length-prefixed framing of the helper protocol: a 4-byte big-endian length, then the payload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>

#include "firewall.pb.h"

namespace smsbridge::proto {

// The largest payload either side will send or accept.
inline constexpr std::size_t max_frame_payload = 64 * 1024;
inline constexpr std::size_t frame_header_size = 4;
// The most doors one OpenManyRequest may carry: their grants fit one answer frame.
inline constexpr std::size_t max_open_many_doors = 64;

enum class frame_error {
  oversize,   // the length prefix (or the message to send) exceeds max_frame_payload
  truncated,  // the stream ended inside a frame
  garbage,    // the payload is not a valid message
};

// A sentence describing the error, for logs and for the peer.
std::string_view describe(frame_error e);
inline std::ostream& operator<<(std::ostream& os, frame_error e) { return os << describe(e); }

template <class T>
using frame_result = boost::system::result<T, frame_error>;

// Serializes a message into one frame. Fails with oversize if the payload exceeds the cap.
frame_result<std::string> encode_frame(const google::protobuf::MessageLite& message);

// Reassembles frames from a byte stream. Feed bytes as they arrive, then take frames with next().
// After an error the decoder is poisoned: the connection must be closed.
class frame_decoder {
 public:
  // Appends received bytes. Never grows beyond one header plus one maximal payload.
  void feed(std::string_view bytes);

  // The next complete payload, nullopt if more bytes are needed, or an error. A length prefix
  // over the cap fails as soon as the header is seen, before the payload is buffered.
  frame_result<std::optional<std::string>> next();

  // Call at end of stream: fails with truncated if a partial frame is buffered.
  frame_result<void> finish() const;

  // How many bytes the decoder wants next at most (so a reader never over-reads a frame).
  std::size_t wanted() const;

 private:
  std::string buffer_;
  bool poisoned_ = false;
};

// Parses a payload into a message, failing with garbage if it does not parse.
frame_result<void> parse_payload(std::string_view payload, google::protobuf::MessageLite& into);

}  // namespace smsbridge::proto
