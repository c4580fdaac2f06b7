// Length-prefixed framing of the helper protocol: encoding, incremental decoding and parsing.
#include "proto/framing.hpp"

namespace smsbridge::proto {

std::string_view describe(frame_error e) {
  switch (e) {
    case frame_error::oversize: return "The frame is larger than the 64 KiB limit.";
    case frame_error::truncated: return "The stream ended in the middle of a frame.";
    case frame_error::garbage: return "The frame does not hold a valid protocol message.";
  }
  return "Unknown framing error.";
}

frame_result<std::string> encode_frame(const google::protobuf::MessageLite& message) {
  const std::size_t size = message.ByteSizeLong();
  if (size > max_frame_payload) return frame_error::oversize;
  std::string frame(frame_header_size + size, '\0');
  frame[0] = static_cast<char>((size >> 24) & 0xff);
  frame[1] = static_cast<char>((size >> 16) & 0xff);
  frame[2] = static_cast<char>((size >> 8) & 0xff);
  frame[3] = static_cast<char>(size & 0xff);
  if (!message.SerializeToArray(frame.data() + frame_header_size, static_cast<int>(size))) {
    return frame_error::garbage;
  }
  return frame;
}

namespace {
std::size_t read_length(std::string_view header) {
  const auto b = [&](std::size_t i) { return static_cast<std::size_t>(static_cast<unsigned char>(header[i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}
}  // namespace

void frame_decoder::feed(std::string_view bytes) { buffer_.append(bytes); }

frame_result<std::optional<std::string>> frame_decoder::next() {
  if (poisoned_) return frame_error::garbage;
  if (buffer_.size() < frame_header_size) return std::optional<std::string>{};
  const std::size_t length = read_length(buffer_);
  if (length > max_frame_payload) {
    poisoned_ = true;
    return frame_error::oversize;
  }
  if (buffer_.size() < frame_header_size + length) return std::optional<std::string>{};
  std::string payload = buffer_.substr(frame_header_size, length);
  buffer_.erase(0, frame_header_size + length);
  return std::optional<std::string>{std::move(payload)};
}

frame_result<void> frame_decoder::finish() const {
  if (!buffer_.empty()) return frame_error::truncated;
  return {};
}

std::size_t frame_decoder::wanted() const {
  if (buffer_.size() < frame_header_size) return frame_header_size - buffer_.size();
  const std::size_t length = read_length(buffer_);
  if (length > max_frame_payload) return 0;
  const std::size_t total = frame_header_size + length;
  return total > buffer_.size() ? total - buffer_.size() : 0;
}

frame_result<void> parse_payload(std::string_view payload, google::protobuf::MessageLite& into) {
  if (payload.size() > max_frame_payload) return frame_error::oversize;
  if (!into.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return frame_error::garbage;
  return {};
}

}  // namespace smsbridge::proto
