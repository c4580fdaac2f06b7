// The metrics history's compression, Gorilla-style (Pelkonen et al., VLDB 2015), pure: a block
// holds the ticks of one fixed set of series; each tick is its timestamp as a delta of deltas,
// then each series' value XORed with its previous one. Every series of a block is sampled at
// every tick (one sampler reads them all), so a timestamp is stored once per tick, not once per
// sample; a series missing at a tick gets the absent marker. Each tick ends on a byte boundary,
// so a tick's bytes can be appended to the history file as they are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace smsbridge::api::history {

// The value of a series that was not there at a tick (Prometheus' staleness marker, a NaN no
// arithmetic produces): decoded, it means "no sample".
inline constexpr std::uint64_t absent_bits = 0x7ff0000000000002ULL;
bool is_absent(double v);
double absent();

class bit_writer {
 public:
  explicit bit_writer(std::vector<std::uint8_t>& out) : out_(out) {}
  void bits(std::uint64_t value, unsigned count);  // the low `count` bits of value, high bit first
  void bit(bool b) { bits(b ? 1 : 0, 1); }
  void align();                                    // pads the last byte with zeros

 private:
  std::vector<std::uint8_t>& out_;
  unsigned used_ = 8;  // bits used in out_.back(); 8: start a new byte
};

class bit_reader {
 public:
  explicit bit_reader(std::span<const std::uint8_t> in) : in_(in) {}
  // nullopt past the end: a truncated block reads as short, never as garbage.
  std::optional<std::uint64_t> bits(unsigned count);
  std::optional<bool> bit();
  void align();
  bool at_end() const { return byte_ >= in_.size(); }

 private:
  std::span<const std::uint8_t> in_;
  std::size_t byte_ = 0;
  unsigned bit_ = 0;
};

// One series' XOR state, on both sides.
struct xor_state {
  std::uint64_t previous = 0;
  unsigned leading = 0xff;  // 0xff: no window yet
  unsigned trailing = 0;
};

// Appends ticks to a block's stream. Its state (previous timestamp and delta, each series'
// previous value and window) is rebuilt from a stream by decode_block, so a block read back from
// the file goes on growing.
class block_encoder {
 public:
  block_encoder(std::int64_t first_ms, std::size_t series);
  // Appends one tick; values.size() must be the block's series count. The first tick's timestamp
  // is the block's first_ms (stored in its header, not in the stream).
  void append(std::int64_t t_ms, std::span<const double> values, std::vector<std::uint8_t>& stream);
  std::size_t state_bytes() const { return series_.capacity() * sizeof(xor_state); }
  std::size_t ticks() const { return ticks_; }
  std::int64_t last_ms() const { return last_ms_; }
  friend struct encoder_access;

 private:
  std::int64_t last_ms_;
  std::int64_t last_delta_ = 0;
  std::size_t ticks_ = 0;
  std::vector<xor_state> series_;
};

// A block's stream decoded: the tick times, and per tick the values of every series, in the
// block's series order (values[tick * series + i]). A stream cut short yields the whole ticks
// before the cut, with `whole` false (then `encoder` must not be used). Otherwise the encoder
// that would append the next tick is rebuilt too.
struct decoded_block {
  std::vector<std::int64_t> times;
  std::vector<double> values;
  bool whole = true;
  block_encoder encoder{0, 0};
};
decoded_block decode_block(std::int64_t first_ms, std::size_t series, std::size_t ticks, std::span<const std::uint8_t> stream);

}  // namespace smsbridge::api::history
