// The state file's codec: snapshot and journal text <-> messages, and replay. No I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

#include "state.pb.h"

namespace smsbridge::firewall {

using smsbridge::fail;
using smsbridge::failure;
using smsbridge::fallible;

template <class T>
using codec_result = fallible<T>;

// Pretty JSON for the snapshot file, so an operator can read it.
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
