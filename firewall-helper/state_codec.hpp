// The state file's codec: snapshot and journal text <-> messages, and replay. No I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

#include "state.pb.h"

namespace smsbridge::firewall {

template <class T>
using codec_result = fallible<T>;

// The snapshot file is one JSON document laid out one grant and one event per line, so it can be
// written piece by piece (no second copy of 10,000 grants in memory) and still read by any JSON
// tool. Its pieces, in order: head, each grant (comma-separated), middle, each event, tail.
struct snapshot_layout {
  static std::string head(std::uint64_t next_event_seq);
  static std::string grant(const v1::Grant& g, bool first);
  static std::string middle();
  static std::string event(const v1::Event& e, bool first);
  static std::string tail();
};

// The whole snapshot as text (the pieces above, joined).
std::string encode_snapshot(const state::Snapshot& snapshot);
codec_result<state::Snapshot> decode_snapshot(std::string_view text);

// One line per record, each ending in '\n'.
std::string encode_journal(const std::vector<state::JournalRecord>& records);

// Decodes journal text. A last line without its '\n' is a write cut short by a crash and is
// ignored; any other undecodable line is corruption.
codec_result<std::vector<state::JournalRecord>> decode_journal(std::string_view text);

// Applies one record to a snapshot. Idempotent: applying a record twice equals applying it once.
void apply_record(state::Snapshot& snapshot, const state::JournalRecord& record);

}  // namespace smsbridge::firewall
