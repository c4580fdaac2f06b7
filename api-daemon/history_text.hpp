// The metrics history's text, pure: reading the exposition format /metrics serves (what the
// sampler records), and the pieces of OpenMetrics the history is answered in.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace smsbridge::api::history {

// A family as the exposition format (0.0.4) names it: # TYPE and # HELP.
struct family_info {
  std::string name;
  std::string type = "untyped";  // counter, gauge, histogram, summary or untyped
  std::string help;              // as written after # HELP (0.0.4 escapes: \\ and \n)
  bool operator==(const family_info&) const = default;
};

// One sample line: its series (the name and the label text, `name{a="b"}`, exactly as written)
// and its value.
struct sample {
  std::size_t family;  // index into exposition::families
  std::string series;
  double value;
};

struct exposition {
  std::vector<family_info> families;
  std::vector<sample> samples;
};

// Parses text in the exposition format. A sample line whose family has no # TYPE gets a family
// of its own, untyped. Timestamps on lines are ignored (the sampler stamps the tick). A line
// that is not the format is an error naming it: the sampler then records nothing for that tick
// rather than guessing.
fallible<exposition> parse_exposition(std::string_view text);

// The labels of a series key as (name, value-as-written) pairs, and the name before them.
std::string_view series_name(std::string_view series);
std::vector<std::pair<std::string_view, std::string_view>> series_labels(std::string_view series);

// How a family is written in OpenMetrics: counters are named without their _total (the samples
// keep it); a counter without _total, and anything untyped, is "unknown".
struct openmetrics_family {
  std::string name;
  std::string type;
};
openmetrics_family openmetrics_of(const family_info& f);
// # HELP text re-escaped for OpenMetrics (which also escapes ").
std::string openmetrics_help(std::string_view help_0_0_4);
// A value and a millisecond timestamp as OpenMetrics writes them (+Inf, -Inf, NaN; seconds with
// three decimals).
std::string openmetrics_number(double v);
std::string openmetrics_seconds(std::int64_t ms);

}  // namespace smsbridge::api::history
