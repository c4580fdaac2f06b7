#include "api-daemon/history_store.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

namespace smsbridge::api::history {

namespace {

// Rough costs of the containers' own nodes, so that the budget covers what the allocator hands
// out and not only the payload (measured RSS stays under budget + 2 MiB: see bench/).
constexpr std::size_t map_node = 64;
constexpr std::size_t block_overhead = sizeof(void*) * 16;

// Records: [u32 payload length][u32 CRC-32 of the payload][payload], little-endian; the payload's
// first byte is its kind. 'S' a series (id, family name, type, help, series text); 'B' a block
// (first ms, series ids); 'T' ticks appended to the newest block (count, last ms, stream bytes).
constexpr std::size_t max_record = 64U << 20;

std::uint32_t crc32(std::string_view data) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320U ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFU;
  for (const char ch : data) c = table[(c ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFU;
}

template <class T>
void put(std::string& out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) out += static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xFF);
}
void put_text(std::string& out, std::string_view s) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(s.size()));
  out += s;
}
void frame(std::string& out, const std::string& payload) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(payload.size()));
  put<std::uint32_t>(out, crc32(payload));
  out += payload;
}

struct cursor {
  std::string_view in;
  bool ok = true;
  template <class T>
  T get() {
    if (in.size() < sizeof(T)) {
      ok = false;
      return T{};
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
    in.remove_prefix(sizeof(T));
    return static_cast<T>(v);
  }
  std::string_view text() {
    const auto n = get<std::uint32_t>();
    if (!ok || in.size() < n) {
      ok = false;
      return {};
    }
    auto s = in.substr(0, n);
    in.remove_prefix(n);
    return s;
  }
};

std::string series_record(std::uint32_t id, const family_info& f, std::string_view key) {
  std::string p = "S";
  put<std::uint32_t>(p, id);
  put_text(p, f.name);
  put_text(p, f.type);
  put_text(p, f.help);
  put_text(p, key);
  return p;
}

std::string block_record(std::int64_t first_ms, const std::vector<std::uint32_t>& series) {
  std::string p = "B";
  put<std::int64_t>(p, first_ms);
  put<std::uint32_t>(p, static_cast<std::uint32_t>(series.size()));
  for (const auto id : series) put<std::uint32_t>(p, id);
  return p;
}

std::string ticks_record(std::size_t ticks, std::int64_t last_ms, std::span<const std::uint8_t> bytes) {
  std::string p = "T";
  put<std::uint32_t>(p, static_cast<std::uint32_t>(ticks));
  put<std::int64_t>(p, last_ms);
  p.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return p;
}

// OpenMetrics wants a histogram's or summary's points grouped: per label set (without le or
// quantile) and time, its buckets in increasing le, then _count, then _sum.
struct series_order {
  std::string group;  // name stem and labels other than le/quantile
  int part = 0;       // 0 buckets or quantiles, 1 _count, 2 _sum, 3 _created
  double bound = 0;   // le or quantile
};

series_order order_of(std::string_view key, std::string_view family) {
  series_order o;
  const auto name = series_name(key);
  if (name.ends_with("_count") && name.size() > family.size()) o.part = 1;
  else if (name.ends_with("_sum") && name.size() > family.size()) o.part = 2;
  else if (name.ends_with("_created") && name.size() > family.size()) o.part = 3;
  for (const auto& [label, value] : series_labels(key)) {
    if (label == "le" || label == "quantile") {
      if (value == "+Inf") o.bound = std::numeric_limits<double>::infinity();
      else o.bound = std::strtod(std::string(value).c_str(), nullptr);
      continue;
    }
    o.group += label;
    o.group += '=';
    o.group += value;
    o.group += ',';
  }
  return o;
}

}  // namespace

std::size_t store::block::bytes() const {
  return block_overhead + stream.capacity() + series.capacity() * sizeof(std::uint32_t) +
         (encoder ? sizeof(block_encoder) + encoder->state_bytes() : 0);
}

store::store(std::size_t budget_bytes, std::size_t block_ticks) : budget_(budget_bytes), block_ticks_(block_ticks ? block_ticks : 1) {}

std::size_t store::series_bytes(const series_info& s) const {
  // The key in ids_, the two map nodes, the family name copy.
  return 2 * map_node + sizeof(series_info) + s.key->capacity() + s.family.capacity();
}

std::size_t store::bytes() const {
  std::size_t total = sizeof(store) + dictionary_bytes_ + open_index_.size() * map_node + sealed_bytes_;
  if (!blocks_.empty() && blocks_.back().encoder) total += blocks_.back().bytes();
  for (const auto& [name, f] : families_) total += map_node + name.capacity() + f.info.name.capacity() + f.info.help.capacity();
  return total;
}

std::size_t store::ticks() const {
  std::size_t n = 0;
  for (const auto& b : blocks_) n += b.ticks;
  return n;
}

std::optional<std::int64_t> store::oldest_ms() const {
  if (blocks_.empty()) return std::nullopt;
  return blocks_.front().first_ms;
}

std::optional<std::int64_t> store::newest_ms() const {
  if (blocks_.empty()) return std::nullopt;
  return blocks_.back().last_ms;
}

std::uint32_t store::series_id(const family_info& family, const std::string& key, std::string& records) {
  if (auto it = ids_.find(key); it != ids_.end()) return it->second;
  const std::uint32_t id = next_id_++;
  add_series(id, family, key);
  frame(records, series_record(id, families_.find(family.name)->second.info, key));
  return id;
}

void store::add_series(std::uint32_t id, const family_info& family, const std::string& key) {
  auto at = ids_.emplace(key, id).first;
  auto& f = families_[family.name];
  if (f.series == 0) f.info = family;
  ++f.series;
  series_info& s = series_[id];
  s.family = family.name;
  s.key = &at->first;
  dictionary_bytes_ += series_bytes(s);
}

void store::forget_series(std::uint32_t id) {
  auto it = series_.find(id);
  if (it == series_.end()) return;
  if (forgotten_ != nullptr) {
    if (auto f = families_.find(it->second.family); f != families_.end()) forgotten_->try_emplace(id, f->second.info, *it->second.key);
  }
  dictionary_bytes_ -= series_bytes(it->second);
  if (auto f = families_.find(it->second.family); f != families_.end() && --f->second.series == 0) families_.erase(f);
  ids_.erase(*it->second.key);
  series_.erase(it);
}

void store::seal_open_block() {
  if (blocks_.empty() || !blocks_.back().encoder) return;
  block& b = blocks_.back();
  b.encoder.reset();
  b.stream.shrink_to_fit();
  open_index_.clear();
  sealed_bytes_ += b.bytes();
}

void store::start_block(std::int64_t t_ms, std::vector<std::uint32_t> series, std::string& records) {
  seal_open_block();
  block b;
  b.first_ms = b.last_ms = t_ms;
  b.series = std::move(series);
  b.encoder = std::make_unique<block_encoder>(t_ms, b.series.size());
  for (std::uint32_t i = 0; i < b.series.size(); ++i) {
    open_index_[b.series[i]] = i;
    ++series_[b.series[i]].blocks;
  }
  frame(records, block_record(t_ms, b.series));
  blocks_.push_back(std::move(b));
}

void store::evict_oldest() {
  block& b = blocks_.front();
  const bool open = static_cast<bool>(b.encoder);
  if (!open) sealed_bytes_ -= b.bytes();
  for (const auto id : b.series) {
    if (auto it = series_.find(id); it != series_.end() && --it->second.blocks == 0) forget_series(id);
  }
  blocks_.pop_front();
  if (open) open_index_.clear();
}

void store::enforce_budget() {
  while (!blocks_.empty() && bytes() > budget_) evict_oldest();
}

std::string store::append(std::int64_t t_ms, const exposition& samples) {
  std::string records;
  if (t_ms <= newest_seen_ms_) return records;
  newest_seen_ms_ = t_ms;
  std::vector<std::pair<std::uint32_t, double>> tick;
  tick.reserve(samples.samples.size());
  for (const auto& s : samples.samples) tick.emplace_back(series_id(samples.families[s.family], s.series, records), s.value);
  // A block's stream stays under 1/16 of the budget, and under what one file record can hold
  // (a rewrite writes it whole), whatever the budget.
  const std::size_t stream_cap = std::min(std::max<std::size_t>(budget_ / 16, 1024), max_record - (1U << 20));
  bool fits = !blocks_.empty() && blocks_.back().encoder && blocks_.back().ticks < block_ticks_ &&
              blocks_.back().stream.size() < stream_cap;
  for (std::size_t i = 0; fits && i < tick.size(); ++i) fits = open_index_.contains(tick[i].first);
  if (!fits) {
    std::vector<std::uint32_t> ids;
    ids.reserve(tick.size());
    for (const auto& [id, v] : tick) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    start_block(t_ms, std::move(ids), records);
  }
  block& b = blocks_.back();
  std::vector<double> values(b.series.size(), absent());
  for (const auto& [id, v] : tick) values[open_index_.at(id)] = v;
  const std::size_t before = b.stream.size();
  b.encoder->append(t_ms, values, b.stream);
  b.last_ms = t_ms;
  ++b.ticks;
  frame(records, ticks_record(1, t_ms, std::span(b.stream).subspan(before)));
  enforce_budget();
  return records;
}

page store::read(std::int64_t since_ms, std::int64_t until_ms, std::size_t max_bytes) const {
  page out;
  // Per series, its samples in the range (the page's ticks), gathered block by block.
  std::map<std::uint32_t, std::vector<std::pair<std::int64_t, double>>> picked;
  // The page's size from above: every family's # TYPE and # HELP lines, and per sample its series,
  // the longest number (24 characters, as -1.2345678901234567e-308) and the longest time.
  std::size_t estimate = std::string_view("# EOF\n").size();
  for (const auto& [name, f] : families_) estimate += 2 * name.size() + f.info.type.size() + openmetrics_help(f.info.help).size() + 24;
  constexpr std::size_t number_and_time = 1 + 24 + 1 + 18 + 1;
  std::size_t page_ticks = 0;
  bool full = false;
  for (const auto& b : blocks_) {
    if (full) break;
    if (b.last_ms < since_ms || b.first_ms >= until_ms || b.ticks == 0) continue;
    std::size_t line_bytes = 0;
    for (const auto id : b.series) line_bytes += series_.at(id).key->size() + number_and_time;
    const auto decoded = decode_block(b.first_ms, b.series.size(), b.ticks, b.stream);
    for (std::size_t t = 0; t < decoded.times.size(); ++t) {
      const auto when = decoded.times[t];
      if (when < since_ms || when >= until_ms) continue;
      if (page_ticks > 0 && estimate + line_bytes > max_bytes) {
        out.next_ms = when;
        full = true;
        break;
      }
      estimate += line_bytes;
      ++page_ticks;
      for (std::size_t i = 0; i < b.series.size(); ++i) {
        const double v = decoded.values[t * b.series.size() + i];
        if (!is_absent(v)) picked[b.series[i]].emplace_back(when, v);
      }
    }
  }
  // Families by name; in each, series grouped as OpenMetrics wants them, points in time order.
  struct entry {
    const std::string* key;
    series_order order;
    const std::vector<std::pair<std::int64_t, double>>* points;
  };
  std::map<std::string_view, std::vector<entry>> by_family;
  for (const auto& [id, points] : picked) {
    const auto& s = series_.at(id);
    by_family[s.family].push_back({s.key, order_of(*s.key, s.family), &points});
  }
  out.text.reserve(estimate);
  for (auto& [name, entries] : by_family) {
    const auto& info = families_.find(name)->second.info;
    const auto om = openmetrics_of(info);
    out.text += fmt::format("# TYPE {} {}\n", om.name, om.type);
    if (!info.help.empty()) out.text += fmt::format("# HELP {} {}\n", om.name, openmetrics_help(info.help));
    std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) {
      if (a.order.group != b.order.group) return a.order.group < b.order.group;
      if (a.order.part != b.order.part) return a.order.part < b.order.part;
      if (a.order.bound != b.order.bound) return a.order.bound < b.order.bound;
      return *a.key < *b.key;
    });
    for (std::size_t g = 0; g < entries.size();) {
      std::size_t end = g;
      while (end < entries.size() && entries[end].order.group == entries[g].order.group) ++end;
      // A merge of the group's series by time: each point of the group at one time, in order.
      std::vector<std::size_t> next(end - g, 0);
      for (;;) {
        std::int64_t when = std::numeric_limits<std::int64_t>::max();
        for (std::size_t i = g; i < end; ++i) {
          if (next[i - g] < entries[i].points->size()) when = std::min(when, (*entries[i].points)[next[i - g]].first);
        }
        if (when == std::numeric_limits<std::int64_t>::max()) break;
        const auto seconds = openmetrics_seconds(when);
        for (std::size_t i = g; i < end; ++i) {
          auto& at = next[i - g];
          if (at < entries[i].points->size() && (*entries[i].points)[at].first == when) {
            out.text += fmt::format("{} {} {}\n", *entries[i].key, openmetrics_number((*entries[i].points)[at].second), seconds);
            ++at;
            ++out.samples;
          }
        }
      }
      g = end;
    }
  }
  out.text += "# EOF\n";
  return out;
}

bool store::snapshot(const std::function<bool(std::string_view)>& sink) const {
  std::string record;
  const auto emit = [&](const std::string& payload) {
    record.clear();
    frame(record, payload);
    return sink(record);
  };
  std::vector<std::uint32_t> ids;
  ids.reserve(series_.size());
  for (const auto& [id, s] : series_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (const auto id : ids) {
    const auto& s = series_.at(id);
    if (!emit(series_record(id, families_.find(s.family)->second.info, *s.key))) return false;
  }
  for (const auto& b : blocks_) {
    if (!emit(block_record(b.first_ms, b.series))) return false;
    if (b.ticks > 0 && !emit(ticks_record(b.ticks, b.last_ms, b.stream))) return false;
  }
  return true;
}

namespace {

class text_source final : public byte_source {
 public:
  explicit text_source(std::string_view text) : text_(text) {}
  std::optional<std::string_view> read(std::size_t n) override {
    if (text_.size() - at_ < n) return std::nullopt;
    const auto out = text_.substr(at_, n);
    at_ += n;
    return out;
  }
  std::size_t size() const override { return text_.size(); }

 private:
  std::string_view text_;
  std::size_t at_ = 0;
};

}  // namespace

replay_result store::replay(std::string_view file) {
  text_source source(file);
  return replay(source);
}

replay_result store::replay(byte_source& file) {
  replay_result r;
  const auto magic = file.read(file_magic.size());
  if (!magic || *magic != file_magic) {
    r.dropped_bytes = file.size();
    return r;
  }
  std::size_t at = file_magic.size();
  std::string ignored;
  // A series forgotten (its blocks evicted) and seen again later got a new id and a second record
  // while the file still held the first: the second is an alias of the first here.
  std::unordered_map<std::uint32_t, std::uint32_t> alias;
  std::unordered_map<std::uint32_t, std::pair<family_info, std::string>> forgotten;
  forgotten_ = &forgotten;
  for (;;) {
    const auto head_bytes = file.read(8);
    if (!head_bytes) break;
    cursor head{*head_bytes};
    const auto length = head.get<std::uint32_t>();
    const auto crc = head.get<std::uint32_t>();
    if (length == 0 || length > max_record || length > file.size() - at - 8) break;
    const auto payload_bytes = file.read(length);
    if (!payload_bytes) break;
    const std::string_view payload = *payload_bytes;
    if (crc32(payload) != crc) break;
    cursor c{payload.substr(1)};
    bool valid = true;
    if (payload[0] == 'S') {
      const auto id = c.get<std::uint32_t>();
      family_info f{std::string(c.text()), std::string(c.text()), std::string(c.text())};
      const std::string key(c.text());
      valid = c.ok && id != 0 && !series_.contains(id) && !alias.contains(id) && !forgotten.contains(id);
      if (valid) {
        next_id_ = std::max(next_id_, id + 1);
        if (auto known = ids_.find(key); known != ids_.end()) alias[id] = known->second;
        else add_series(id, f, key);
      }
    } else if (payload[0] == 'B') {
      const auto first = c.get<std::int64_t>();
      const auto n = c.get<std::uint32_t>();
      std::vector<std::uint32_t> ids;
      for (std::uint32_t i = 0; c.ok && i < n && valid; ++i) {
        auto id = c.get<std::uint32_t>();
        if (auto a = alias.find(id); a != alias.end()) id = a->second;
        if (auto gone = forgotten.find(id); gone != forgotten.end() && !series_.contains(id)) {
          // Named again after the budget let it go: back under its id, or as an alias of the
          // series that took its text since.
          if (auto known = ids_.find(gone->second.second); known != ids_.end()) {
            alias[id] = known->second;
            id = known->second;
          } else {
            add_series(id, gone->second.first, gone->second.second);
          }
        }
        ids.push_back(id);
        valid = series_.contains(id);
      }
      valid = valid && c.ok && first > newest_seen_ms_;
      if (valid) {
        start_block(first, std::move(ids), ignored);
        ignored.clear();
        newest_seen_ms_ = first;
        // The budget holds while loading, but the open block stays: the ticks that follow are its.
        while (blocks_.size() > 1 && bytes() > budget_) evict_oldest();
      }
    } else if (payload[0] == 'T') {
      const auto n = c.get<std::uint32_t>();
      const auto last = c.get<std::int64_t>();
      valid = c.ok && !blocks_.empty() && blocks_.back().encoder && n > 0 && last >= blocks_.back().last_ms;
      if (valid) {
        block& b = blocks_.back();
        const auto* bytes = reinterpret_cast<const std::uint8_t*>(c.in.data());
        b.stream.insert(b.stream.end(), bytes, bytes + c.in.size());
        b.ticks += n;
        b.last_ms = last;
        newest_seen_ms_ = last;
        r.ticks += n;
      }
    } else {
      valid = false;
    }
    if (!valid) {
      r.refused = true;
      break;
    }
    at += 8 + length;
  }
  forgotten_ = nullptr;
  r.good_bytes = at;
  r.dropped_bytes = file.size() - at;
  // The newest block goes on growing: its encoder is rebuilt from its stream. One that does not
  // decode whole (no valid file gives one) is sealed at what it holds.
  if (!blocks_.empty() && blocks_.back().encoder) {
    block& b = blocks_.back();
    auto decoded = decode_block(b.first_ms, b.series.size(), b.ticks, b.stream);
    if (decoded.whole && decoded.times.size() == b.ticks && b.ticks > 0) {
      *b.encoder = std::move(decoded.encoder);
    } else {
      b.ticks = decoded.times.size();
      if (!decoded.times.empty()) b.last_ms = decoded.times.back();
      seal_open_block();
    }
  }
  // Blocks left without ticks (a block record whose ticks were torn off) hold nothing.
  for (auto it = blocks_.begin(); it != blocks_.end();) {
    if (it->ticks > 0) {
      ++it;
      continue;
    }
    if (!it->encoder) sealed_bytes_ -= it->bytes();
    for (const auto id : it->series) {
      if (auto s = series_.find(id); s != series_.end() && --s->second.blocks == 0) forget_series(id);
    }
    it = blocks_.erase(it);
  }
  // Series no block holds (the file keeps them until it is rewritten) are forgotten.
  std::vector<std::uint32_t> unused;
  for (const auto& [id, s] : series_) {
    if (s.blocks == 0) unused.push_back(id);
  }
  for (const auto id : unused) forget_series(id);
  enforce_budget();
  return r;
}

}  // namespace smsbridge::api::history
