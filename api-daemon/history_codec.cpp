#include "api-daemon/history_codec.hpp"

#include <bit>
#include <cstring>

namespace smsbridge::api::history {

bool is_absent(double v) { return std::bit_cast<std::uint64_t>(v) == absent_bits; }
double absent() { return std::bit_cast<double>(absent_bits); }

void bit_writer::bits(std::uint64_t value, unsigned count) {
  while (count > 0) {
    if (used_ == 8) {
      out_.push_back(0);
      used_ = 0;
    }
    const unsigned room = 8 - used_;
    const unsigned take = count < room ? count : room;
    // The `take` highest of the remaining `count` bits, placed after the bits already used.
    const auto chunk = static_cast<std::uint8_t>((value >> (count - take)) & ((1U << take) - 1));
    out_.back() = static_cast<std::uint8_t>(out_.back() | (chunk << (room - take)));
    used_ += take;
    count -= take;
  }
}

void bit_writer::align() { used_ = 8; }

std::optional<std::uint64_t> bit_reader::bits(unsigned count) {
  std::uint64_t value = 0;
  while (count > 0) {
    if (byte_ >= in_.size()) return std::nullopt;
    const unsigned room = 8 - bit_;
    const unsigned take = count < room ? count : room;
    const unsigned chunk = (static_cast<unsigned>(in_[byte_]) >> (room - take)) & ((1U << take) - 1);
    value = (value << take) | chunk;
    bit_ += take;
    count -= take;
    if (bit_ == 8) {
      bit_ = 0;
      ++byte_;
    }
  }
  return value;
}

std::optional<bool> bit_reader::bit() {
  auto b = bits(1);
  if (!b) return std::nullopt;
  return *b == 1;
}

void bit_reader::align() {
  if (bit_ != 0) {
    bit_ = 0;
    ++byte_;
  }
}

namespace {

// The delta of deltas in the smallest of Gorilla's buckets (the usual case, a steady interval,
// costs one bit); a value is stored offset so that it is never negative.
struct bucket {
  unsigned prefix_bits;
  std::uint64_t prefix;
  unsigned value_bits;
};
constexpr bucket buckets[] = {{2, 0b10, 7}, {3, 0b110, 9}, {4, 0b1110, 12}, {5, 0b11110, 32}};

void write_dod(bit_writer& w, std::int64_t dod) {
  if (dod == 0) return w.bit(false);
  for (const auto& b : buckets) {
    const std::int64_t low = -((std::int64_t{1} << (b.value_bits - 1)) - 1), high = std::int64_t{1} << (b.value_bits - 1);
    if (dod >= low && dod <= high) {
      w.bits(b.prefix, b.prefix_bits);
      w.bits(static_cast<std::uint64_t>(dod - low), b.value_bits);
      return;
    }
  }
  w.bits(0b11111, 5);
  w.bits(static_cast<std::uint64_t>(dod), 64);
}

std::optional<std::int64_t> read_dod(bit_reader& r) {
  unsigned ones = 0;
  while (ones < 5) {
    auto b = r.bit();
    if (!b) return std::nullopt;
    if (!*b) break;
    ++ones;
  }
  if (ones == 0) return 0;
  if (ones == 5) {
    auto raw = r.bits(64);
    if (!raw) return std::nullopt;
    return static_cast<std::int64_t>(*raw);
  }
  const auto& b = buckets[ones - 1];
  const std::int64_t low = -((std::int64_t{1} << (b.value_bits - 1)) - 1);
  auto raw = r.bits(b.value_bits);
  if (!raw) return std::nullopt;
  return static_cast<std::int64_t>(*raw) + low;
}

void write_value(bit_writer& w, xor_state& s, std::uint64_t value, bool first) {
  if (first) {
    w.bits(value, 64);
    s.previous = value;
    return;
  }
  const std::uint64_t x = value ^ s.previous;
  s.previous = value;
  if (x == 0) return w.bit(false);
  w.bit(true);
  unsigned leading = static_cast<unsigned>(std::countl_zero(x));
  const auto trailing = static_cast<unsigned>(std::countr_zero(x));
  if (leading > 31) leading = 31;  // five bits
  if (s.leading != 0xff && leading >= s.leading && trailing >= s.trailing) {
    w.bit(false);
    w.bits(x >> s.trailing, 64 - s.leading - s.trailing);
    return;
  }
  const unsigned length = 64 - leading - trailing;
  w.bit(true);
  w.bits(leading, 5);
  w.bits(length - 1, 6);
  w.bits(x >> trailing, length);
  s.leading = leading;
  s.trailing = trailing;
}

std::optional<std::uint64_t> read_value(bit_reader& r, xor_state& s, bool first) {
  if (first) {
    auto raw = r.bits(64);
    if (raw) s.previous = *raw;
    return raw;
  }
  auto changed = r.bit();
  if (!changed) return std::nullopt;
  if (!*changed) return s.previous;
  auto new_window = r.bit();
  if (!new_window) return std::nullopt;
  if (*new_window) {
    auto leading = r.bits(5);
    auto length = leading ? r.bits(6) : std::nullopt;
    if (!length) return std::nullopt;
    const auto len = static_cast<unsigned>(*length) + 1;
    if (*leading + len > 64) return std::nullopt;  // no encoder writes this: a damaged stream
    s.leading = static_cast<unsigned>(*leading);
    s.trailing = 64 - s.leading - len;
  } else if (s.leading == 0xff) {
    return std::nullopt;
  }
  auto meaningful = r.bits(64 - s.leading - s.trailing);
  if (!meaningful) return std::nullopt;
  s.previous ^= *meaningful << s.trailing;
  return s.previous;
}

}  // namespace

block_encoder::block_encoder(std::int64_t first_ms, std::size_t series) : last_ms_(first_ms), series_(series) {}

void block_encoder::append(std::int64_t t_ms, std::span<const double> values, std::vector<std::uint8_t>& stream) {
  bit_writer w(stream);
  const bool first = ticks_ == 0;
  if (!first) {
    const std::int64_t delta = t_ms - last_ms_;
    write_dod(w, delta - last_delta_);
    last_delta_ = delta;
    last_ms_ = t_ms;
  }
  for (std::size_t i = 0; i < series_.size(); ++i) write_value(w, series_[i], std::bit_cast<std::uint64_t>(values[i]), first);
  w.align();
  ++ticks_;
}

struct encoder_access {
  static void set(block_encoder& e, std::int64_t last_ms, std::int64_t last_delta, std::size_t ticks, std::vector<xor_state> s) {
    e.last_ms_ = last_ms;
    e.last_delta_ = last_delta;
    e.ticks_ = ticks;
    e.series_ = std::move(s);
  }
};

decoded_block decode_block(std::int64_t first_ms, std::size_t series, std::size_t ticks, std::span<const std::uint8_t> stream) {
  decoded_block out;
  out.times.reserve(ticks);
  out.values.reserve(ticks * series);
  std::vector<xor_state> state(series);
  bit_reader r(stream);
  std::int64_t last = first_ms, last_delta = 0;
  std::vector<double> row(series);
  for (std::size_t tick = 0; tick < ticks; ++tick) {
    const bool first = tick == 0;
    std::int64_t t = first_ms, delta = 0;
    if (!first) {
      auto dod = read_dod(r);
      if (!dod) {
        out.whole = false;
        break;
      }
      // A damaged stream can hold any 64-bit value here: overflow is damage, not arithmetic.
      if (__builtin_add_overflow(last_delta, *dod, &delta) || __builtin_add_overflow(last, delta, &t)) {
        out.whole = false;
        break;
      }
    }
    for (std::size_t i = 0; i < series && out.whole; ++i) {
      auto v = read_value(r, state[i], first);
      if (!v) out.whole = false;
      else row[i] = std::bit_cast<double>(*v);
    }
    if (!out.whole) break;
    r.align();
    if (!first) {
      last_delta = delta;
      last = t;
    }
    out.times.push_back(t);
    out.values.insert(out.values.end(), row.begin(), row.end());
  }
  out.encoder = block_encoder(first_ms, series);
  encoder_access::set(out.encoder, last, last_delta, out.times.size(), std::move(state));
  return out;
}

}  // namespace smsbridge::api::history
