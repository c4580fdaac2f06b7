// The metrics history kept in memory, pure: ticks of samples in compressed blocks, under a byte
// budget it never exceeds (the oldest block goes first), read back as OpenMetrics pages; and the
// records that make it durable (what each tick adds to the file, a snapshot of all of it, and
// the replay of a file, whose torn tail is dropped).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api-daemon/history_codec.hpp"
#include "api-daemon/history_text.hpp"

namespace smsbridge::api::history {

// The file's first bytes; a file without them is not a history file.
inline constexpr std::string_view file_magic = "SMSBHIS1";

struct page {
  std::string text;                      // OpenMetrics, ending in "# EOF\n"
  std::optional<std::int64_t> next_ms;   // the since of the next page, when more samples remain
  std::size_t samples = 0;
};

// Where a replay reads a file from, front to back.
class byte_source {
 public:
  virtual ~byte_source() = default;
  // The next n bytes (valid until the next call), or nullopt if fewer remain.
  virtual std::optional<std::string_view> read(std::size_t n) = 0;
  virtual std::size_t size() const = 0;  // of the whole file
};

struct replay_result {
  std::size_t good_bytes = 0;     // the prefix made of whole, valid records (with the magic)
  std::size_t dropped_bytes = 0;  // what followed it: a torn or damaged tail
  // The replay stopped at a whole record (its checksum right) that does not fit what came before,
  // as from a newer daemon: not a torn write, so the file is kept aside rather than cut.
  bool refused = false;
  std::size_t ticks = 0;
};

class store {
 public:
  // A block ends after `block_ticks` ticks, when its stream reaches 1/16 of the budget, or when a
  // series appears that it does not hold.
  explicit store(std::size_t budget_bytes, std::size_t block_ticks = 120);

  // Records a tick taken at t_ms. Returns the file records it adds (empty if the tick was not
  // kept: its time is not after the newest one kept, as after a clock step back).
  std::string append(std::int64_t t_ms, const exposition& samples);

  // The samples with since_ms <= t < until_ms, oldest first, in a page of at most max_bytes
  // (always at least one tick, even if that one alone is larger).
  page read(std::int64_t since_ms, std::int64_t until_ms, std::size_t max_bytes) const;

  // Everything kept, as file records after the magic: what a rewritten file holds. The sink gets
  // one record at a time, so a rewrite needs no copy of the store; false from it stops the walk
  // (and snapshot returns false).
  bool snapshot(const std::function<bool(std::string_view)>& sink) const;
  // Loads a file (the magic, then records) into an empty store a record at a time, keeping to the
  // budget as it goes, so a file twice the budget never sits in memory whole. Stops at the first
  // record that is torn or does not fit what came before.
  replay_result replay(byte_source& file);
  replay_result replay(std::string_view file);

  std::size_t bytes() const;  // memory held, by the accounting the budget applies to
  std::size_t budget() const { return budget_; }
  std::size_t series_count() const { return series_.size(); }
  std::size_t ticks() const;
  std::optional<std::int64_t> oldest_ms() const;
  std::optional<std::int64_t> newest_ms() const;

 private:
  struct series_info {
    std::string family;  // key into families_
    const std::string* key = nullptr;  // the series text, owned by ids_
    std::uint32_t blocks = 0;          // blocks holding it: at 0 it is forgotten
  };
  struct family_entry {
    family_info info;
    std::uint32_t series = 0;
  };
  struct block {
    std::int64_t first_ms = 0;
    std::int64_t last_ms = 0;
    std::size_t ticks = 0;
    std::vector<std::uint32_t> series;
    std::vector<std::uint8_t> stream;
    std::unique_ptr<block_encoder> encoder;  // only the open (newest) block has one
    std::size_t bytes() const;
  };

  std::uint32_t series_id(const family_info& family, const std::string& key, std::string& records);
  void add_series(std::uint32_t id, const family_info& family, const std::string& key);
  void start_block(std::int64_t t_ms, std::vector<std::uint32_t> series, std::string& records);
  void seal_open_block();
  void evict_oldest();
  void enforce_budget();
  void forget_series(std::uint32_t id);
  std::size_t series_bytes(const series_info& s) const;

  std::size_t budget_;
  std::size_t block_ticks_;
  std::deque<block> blocks_;
  std::unordered_map<std::string, std::uint32_t> ids_;
  std::unordered_map<std::uint32_t, series_info> series_;
  std::map<std::string, family_entry, std::less<>> families_;
  std::unordered_map<std::uint32_t, std::uint32_t> open_index_;  // series id -> its place in the open block
  std::uint32_t next_id_ = 1;
  // The newest tick ever kept, evicted or not: a tick must come after it (a clock stepped back
  // after everything was evicted must not write a block the file's replay would refuse).
  std::int64_t newest_seen_ms_ = std::numeric_limits<std::int64_t>::min();
  std::size_t dictionary_bytes_ = 0;
  std::size_t sealed_bytes_ = 0;  // the sealed blocks' bytes(), which no longer change
  // While a file replays: series the budget made it forget, in case a later block of the file
  // still names them (the file was written under a larger budget).
  std::unordered_map<std::uint32_t, std::pair<family_info, std::string>>* forgotten_ = nullptr;
};

}  // namespace smsbridge::api::history
