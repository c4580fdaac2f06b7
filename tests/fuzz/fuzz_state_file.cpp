// libFuzzer: the firewall helper's state file loader (snapshot and journal), what a restart reads
// from disk; and applying the journal to the snapshot, then writing it back.
#include <cstdint>
#include <string_view>

#include "firewall-helper/state_codec.hpp"

using namespace smsbridge::firewall;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The first line decides which half of the input is the journal, so one input covers both.
  const auto split = text.find("\n--\n");
  auto snapshot = decode_snapshot(split == std::string_view::npos ? text : text.substr(0, split));
  if (split != std::string_view::npos) {
    auto journal = decode_journal(text.substr(split + 4));
    if (snapshot && journal) {
      for (const auto& record : *journal) apply_record(*snapshot, record);
    }
  }
  if (snapshot) {
    const auto again = decode_snapshot(encode_snapshot(*snapshot));
    if (!again) __builtin_trap();  // what we write, we must be able to read back
  }
  return 0;
}
