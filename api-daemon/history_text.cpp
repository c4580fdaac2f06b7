#include "api-daemon/history_text.hpp"

#include <charconv>
#include <cmath>
#include <map>

#include <fmt/format.h>

namespace smsbridge::api::history {

namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

// The length of the label block starting at text[0] == '{' (through its '}'), or 0 if it is not one.
std::size_t label_block(std::string_view text) {
  bool quoted = false;
  for (std::size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '}') {
      return i + 1;
    }
  }
  return 0;
}

bool parse_value(std::string_view token, double& out) {
  if (token == "+Inf" || token == "Inf") return out = HUGE_VAL, true;
  if (token == "-Inf") return out = -HUGE_VAL, true;
  if (token == "NaN") return out = std::nan(""), true;
  const auto* end = token.data() + token.size();
  auto [p, ec] = std::from_chars(token.data(), end, out);
  return ec == std::errc() && p == end;
}

// The family a sample line belongs to: the latest # TYPE whose name it is, or is with a suffix
// its type allows.
bool belongs(const family_info& f, std::string_view name) {
  if (name == f.name) return true;
  if (name.size() <= f.name.size() || name.substr(0, f.name.size()) != f.name) return false;
  const auto suffix = name.substr(f.name.size());
  if (f.type == "histogram") return suffix == "_bucket" || suffix == "_sum" || suffix == "_count" || suffix == "_created";
  if (f.type == "summary") return suffix == "_sum" || suffix == "_count" || suffix == "_created";
  return false;
}

}  // namespace

fallible<exposition> parse_exposition(std::string_view text) {
  exposition out;
  std::map<std::string, std::size_t, std::less<>> by_name;
  const auto family_named = [&](std::string_view name) -> family_info& {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      it = by_name.emplace(std::string(name), out.families.size()).first;
      out.families.push_back({std::string(name), "untyped", ""});
    }
    return out.families[it->second];
  };
  std::size_t current = SIZE_MAX;  // the family of the latest # TYPE
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line[0] == '#') {
      const bool help = line.starts_with("# HELP "), type = line.starts_with("# TYPE ");
      if (!help && !type) continue;  // a comment
      std::string_view rest = line.substr(7);
      const auto space = rest.find(' ');
      const std::string_view name = rest.substr(0, space);
      const std::string_view value = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
      if (name.empty() || !name_start(name[0])) return fail(fmt::format("line {} names no metric: '{}'.", number, line));
      family_info& f = family_named(name);
      if (help) {
        f.help = std::string(value);
      } else {
        if (value != "counter" && value != "gauge" && value != "histogram" && value != "summary" && value != "untyped") {
          return fail(fmt::format("line {}: '{}' is not a metric type.", number, value));
        }
        f.type = std::string(value);
        current = by_name.find(name)->second;
      }
      continue;
    }
    std::size_t n = 0;
    if (!name_start(line[0])) return fail(fmt::format("line {} is not a sample: '{}'.", number, line));
    while (n < line.size() && name_char(line[n])) ++n;
    const std::string_view name = line.substr(0, n);
    if (n < line.size() && line[n] == '{') {
      const auto block = label_block(line.substr(n));
      if (block == 0) return fail(fmt::format("line {} has unclosed labels: '{}'.", number, line));
      n += block;
    }
    const std::string_view series = line.substr(0, n);
    std::string_view rest = line.substr(n);
    if (rest.empty() || rest[0] != ' ') return fail(fmt::format("line {} has no value: '{}'.", number, line));
    rest.remove_prefix(1);
    const std::string_view token = rest.substr(0, rest.find(' '));
    double value = 0;
    if (!parse_value(token, value)) return fail(fmt::format("line {}: '{}' is not a number.", number, token));
    std::size_t family = SIZE_MAX;
    if (current != SIZE_MAX && belongs(out.families[current], name)) {
      family = current;
    } else {
      family_named(name);
      family = by_name.find(name)->second;
    }
    out.samples.push_back({family, std::string(series), value});
  }
  return out;
}

std::string_view series_name(std::string_view series) { return series.substr(0, series.find('{')); }

std::vector<std::pair<std::string_view, std::string_view>> series_labels(std::string_view series) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  const auto open = series.find('{');
  if (open == std::string_view::npos) return out;
  std::string_view rest = series.substr(open + 1);
  while (!rest.empty() && rest[0] != '}') {
    if (rest[0] == ',' || rest[0] == ' ') {
      rest.remove_prefix(1);
      continue;
    }
    const auto eq = rest.find("=\"");
    if (eq == std::string_view::npos) break;
    const std::string_view name = rest.substr(0, eq);
    std::size_t i = eq + 2;
    while (i < rest.size() && rest[i] != '"') i += rest[i] == '\\' ? 2 : 1;
    if (i >= rest.size()) break;
    out.emplace_back(name, rest.substr(eq + 2, i - eq - 2));
    rest.remove_prefix(i + 1);
  }
  return out;
}

openmetrics_family openmetrics_of(const family_info& f) {
  if (f.type == "counter") {
    if (f.name.size() > 6 && f.name.ends_with("_total")) return {f.name.substr(0, f.name.size() - 6), "counter"};
    return {f.name, "unknown"};
  }
  if (f.type == "gauge" || f.type == "histogram" || f.type == "summary") return {f.name, f.type};
  return {f.name, "unknown"};
}

std::string openmetrics_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (std::size_t i = 0; i < help.size(); ++i) {
    if (help[i] == '\\' && i + 1 < help.size() && (help[i + 1] == '\\' || help[i + 1] == 'n')) {
      out += help[i];
      out += help[++i];
    } else if (help[i] == '\\') {
      out += "\\\\";
    } else if (help[i] == '"') {
      out += "\\\"";
    } else {
      out += help[i];
    }
  }
  return out;
}

std::string openmetrics_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

std::string openmetrics_seconds(std::int64_t ms) {
  const std::int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  return fmt::format("{}.{:03}", s, ms - s * 1000);
}

}  // namespace smsbridge::api::history
