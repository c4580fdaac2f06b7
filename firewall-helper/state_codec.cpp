// The state file's codec: protobuf JSON encoding, line-oriented journal decoding, idempotent replay.
#include "firewall-helper/state_codec.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

namespace smsbridge::firewall {

namespace {
std::string to_json(const google::protobuf::Message& m, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.preserve_proto_field_names = true;
  std::string out;
  // Printing a message we built cannot fail for these types (no Any fields).
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}
}  // namespace

std::string snapshot_layout::head(std::uint64_t next_event_seq) {
  return fmt::format("{{\"format\": 1, \"next_event_seq\": \"{}\",\n\"grants\": [\n", next_event_seq);
}
std::string snapshot_layout::grant(const v1::Grant& g, bool first) { return (first ? "" : ",\n") + to_json(g, false); }
std::string snapshot_layout::middle() { return "\n],\n\"events\": [\n"; }
std::string snapshot_layout::event(const v1::Event& e, bool first) { return (first ? "" : ",\n") + to_json(e, false); }
std::string snapshot_layout::tail() { return "\n]}\n"; }

std::string encode_snapshot(const state::Snapshot& snapshot) {
  std::string out = snapshot_layout::head(snapshot.next_event_seq());
  bool first = true;
  for (const auto& g : snapshot.grants()) out += snapshot_layout::grant(g, std::exchange(first, false));
  out += snapshot_layout::middle();
  first = true;
  for (const auto& e : snapshot.events()) out += snapshot_layout::event(e, std::exchange(first, false));
  return out + snapshot_layout::tail();
}

codec_result<state::Snapshot> decode_snapshot(std::string_view text) {
  state::Snapshot s;
  google::protobuf::util::JsonParseOptions options;
  if (auto st = google::protobuf::util::JsonStringToMessage(std::string(text), &s, options); !st.ok()) {
    return fail(fmt::format("the state file is not valid ({}).", std::string(st.message())));
  }
  if (s.format() != 1) return fail(fmt::format("the state file has format {}, expected 1.", s.format()));
  return s;
}

std::string encode_journal(const std::vector<state::JournalRecord>& records) {
  std::string out;
  for (const auto& r : records) {
    out += to_json(r, false);
    out += '\n';
  }
  return out;
}

codec_result<std::vector<state::JournalRecord>> decode_journal(std::string_view text) {
  std::vector<state::JournalRecord> out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos) break;  // torn final write: the change was never acknowledged
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    state::JournalRecord r;
    google::protobuf::util::JsonParseOptions options;
    if (auto st = google::protobuf::util::JsonStringToMessage(std::string(line), &r, options);
        !st.ok() || r.change_case() == state::JournalRecord::CHANGE_NOT_SET) {
      return fail(fmt::format("journal line {} is not a valid record.", line_no));
    }
    out.push_back(std::move(r));
  }
  return out;
}

void apply_record(state::Snapshot& s, const state::JournalRecord& r) {
  switch (r.change_case()) {
    case state::JournalRecord::kOpened: {
      auto* grants = s.mutable_grants();
      auto same = std::find_if(grants->begin(), grants->end(),
                               [&](const auto& g) { return g.service() == r.opened().service(); });
      if (same != grants->end()) *same = r.opened();
      else *grants->Add() = r.opened();
      break;
    }
    case state::JournalRecord::kClosed: {
      auto* grants = s.mutable_grants();
      auto it = std::find_if(grants->begin(), grants->end(), [&](const auto& g) {
        return g.service() == r.closed().service() && g.grant_id() == r.closed().grant_id();
      });
      if (it != grants->end()) grants->erase(it);
      break;
    }
    case state::JournalRecord::kEvent:
      if (r.event().seq() >= s.next_event_seq()) {
        *s.add_events() = r.event();
        s.set_next_event_seq(r.event().seq() + 1);
      }
      break;
    case state::JournalRecord::kAckedThrough: {
      auto* events = s.mutable_events();
      events->erase(std::remove_if(events->begin(), events->end(),
                                   [&](const auto& e) { return e.seq() <= r.acked_through(); }),
                    events->end());
      break;
    }
    case state::JournalRecord::kVoided: {
      const auto& v = r.voided();
      auto* grants = s.mutable_grants();
      grants->erase(std::remove_if(grants->begin(), grants->end(),
                                   [&](const auto& g) { return g.service() == v.service() && g.grant_id() == v.grant_id(); }),
                    grants->end());
      auto* events = s.mutable_events();
      events->erase(std::remove_if(events->begin(), events->end(),
                                   [&](const auto& e) { return e.seq() == v.event_seq() && e.grant().grant_id() == v.grant_id(); }),
                    events->end());
      break;
    }
    case state::JournalRecord::CHANGE_NOT_SET:
      break;
  }
}

}  // namespace smsbridge::firewall
