// The metrics history's two bounds, measured on the daemon's own /metrics text (a file captured by
// bench/history-run.sh) plus PostgreSQL's health figures:
// - a sampling tick's cost (parse + compress + keep), and the fdatasync'd append of its records;
// - the memory the history takes once its budget is full (RSS growth against the budget), the
//   ticks it then holds and the bytes per sample, for an idle and for a busy server;
// - the peak memory of a restart that loads the largest file the daemon keeps, and of its rewrite.
//
//   history_bench METRICS_TEXT_FILE WORK_DIR [--budget BYTES] [--ticks N]
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "api-daemon/history.hpp"
#include "api-daemon/history_file.hpp"
#include "api-daemon/history_store.hpp"
#include "api-daemon/history_text.hpp"

using namespace smsbridge::api;

namespace {

long status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  const std::string prefix = std::string(field) + ":";
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(prefix, 0) == 0) return std::strtol(line.c_str() + prefix.size(), nullptr, 10);
  }
  return -1;
}
long rss_kib() { return status_kib("VmRSS"); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
double p99(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, v.size() * 99 / 100)];
}

// The captured text as lines whose values the bench moves between ticks the way a server does:
// on an idle one only the process figures and PostgreSQL's move; on a busy one every series does.
struct moving_text {
  std::vector<std::string> comments;  // # HELP / # TYPE, kept in place
  struct line {
    std::size_t after_comments;  // comments before it
    std::string series;
    double value;
    bool always_moves;
  };
  std::vector<line> lines;
  std::mt19937_64 random{11};

  explicit moving_text(const std::string& text) {
    std::size_t start = 0;
    while (start < text.size()) {
      auto end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      const std::string l = text.substr(start, end - start);
      start = end + 1;
      if (l.empty()) continue;
      if (l[0] == '#') {
        comments.push_back(l);
        continue;
      }
      const auto space = l.rfind(' ');
      const std::string series = l.substr(0, space);
      const bool process = series.rfind("process_", 0) == 0 || series.rfind("pg_", 0) == 0;
      lines.push_back({comments.size(), series, std::strtod(l.c_str() + space + 1, nullptr), process});
    }
  }

  std::string next(bool busy) {
    std::string out;
    std::size_t printed = 0;
    for (auto& l : lines) {
      while (printed < l.after_comments) out += comments[printed++] + "\n";
      if (l.always_moves) l.value += static_cast<double>(random() % 1000000) / 997.0;
      else if (busy) l.value += static_cast<double>(1 + random() % 20);
      out += fmt::format("{} {}\n", l.series, l.value);
    }
    while (printed < comments.size()) out += comments[printed++] + "\n";
    return out;
  }
};

struct fill_result {
  long rss_growth_kib;
  std::size_t ticks, series, bytes;
};

fill_result fill(const std::string& text, std::size_t budget, bool busy, std::size_t max_ticks) {
  moving_text source(text);
  std::vector<std::string> ticks;  // made first, so the texts are not in the RSS measured
  const long before = rss_kib();
  history::store store(budget);
  std::int64_t t = 1767225600000;
  std::size_t n = 0;
  // Until the oldest block has gone twice over, i.e. the budget is full and turning over.
  std::size_t evicted_at = 0;
  for (; n < max_ticks; ++n) {
    const auto exposition = history::parse_exposition(source.next(busy));
    store.append(t, *exposition);
    t += 60000;
    if (store.oldest_ms() && *store.oldest_ms() > 1767225600000 && evicted_at == 0) evicted_at = n;
    if (evicted_at && n > evicted_at * 2) break;
  }
  return {rss_kib() - before, store.ticks(), store.series_count(), store.bytes()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: history_bench METRICS_TEXT_FILE WORK_DIR [--budget BYTES] [--ticks N]\n");
    return 2;
  }
  std::size_t budget = 8U << 20, timing_ticks = 600;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--budget") budget = std::strtoul(argv[i + 1], nullptr, 10);
    else if (flag == "--ticks") timing_ticks = std::strtoul(argv[i + 1], nullptr, 10);
  }
  std::ifstream in(argv[1]);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  postgres_health pg{true, "16384", "sms_bridge", 4, 123456, 12, 0, 9876543, 2345, 12e6};
  text += postgres_health_text(pg);
  const auto parsed = history::parse_exposition(text);
  if (!parsed) {
    std::fprintf(stderr, "history_bench: %s is not the exposition format: %s\n", argv[1], parsed.error().message.c_str());
    return 1;
  }
  const std::size_t series = parsed->samples.size();

  // The tick's cost: parse + compress + keep (the event loop's part), then the file append
  // (fdatasync'd, on the history's disk thread), on a busy server's text.
  std::vector<double> cpu_ms, disk_ms;
  {
    const std::string file = std::string(argv[2]) + "/metrics-history.bin";
    std::remove(file.c_str());
    history::store store(budget);
    std::string report;
    auto f = history::history_file::open(file, store, report);
    if (!f) {
      std::fprintf(stderr, "history_bench: %s\n", f.error().message.c_str());
      return 1;
    }
    moving_text source(text);
    std::int64_t t = 1767225600000;
    for (std::size_t n = 0; n < timing_ticks; ++n) {
      const auto tick = source.next(true);
      const auto a = std::chrono::steady_clock::now();
      const auto e = history::parse_exposition(tick);
      const auto records = store.append(t, *e);
      const auto b = std::chrono::steady_clock::now();
      if (!f->append(records)) return 1;
      const auto c = std::chrono::steady_clock::now();
      cpu_ms.push_back(std::chrono::duration<double, std::milli>(b - a).count());
      disk_ms.push_back(std::chrono::duration<double, std::milli>(c - b).count());
      t += 60000;
    }
  }
  const auto hours = [](std::size_t ticks) { return static_cast<double>(ticks) / 60.0; };
  std::printf("series sampled per tick: %zu (the captured /metrics plus %zu PostgreSQL figures)\n", series,
              history::parse_exposition(postgres_health_text(pg))->samples.size());
  std::printf("tick (parse + compress + keep), %zu ticks: median %.3f ms, p99 %.3f ms\n", timing_ticks, median(cpu_ms), p99(cpu_ms));
  std::printf("tick's fdatasync'd file append: median %.3f ms, p99 %.3f ms\n", median(disk_ms), p99(disk_ms));
  std::fflush(stdout);
  for (const bool busy : {false, true}) {
    // Each fill in a fresh process: memory freed by one must not hide the other's growth.
    const pid_t child = ::fork();
    if (child < 0) return 1;
    if (child > 0) {
      int status = 0;
      ::waitpid(child, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
      continue;
    }
    const auto r = fill(text, budget, busy, 2000000);
    const char* name = busy ? "busy" : "idle";
    std::printf(
        "%s server, budget %zu bytes full: %zu ticks kept = %.1f hours at 60 s, %.2f bytes per sample, accounted %zu bytes, "
        "RSS growth %ld KiB (budget + 2 MiB = %zu KiB)\n",
        name, budget, r.ticks, hours(r.ticks), static_cast<double>(r.bytes) / static_cast<double>(r.ticks * r.series), r.bytes,
        r.rss_growth_kib, budget / 1024 + 2048);
    std::fflush(stdout);
    if (busy) {
      // The restart and the rewrite: the largest file the daemon lets grow (twice the store + 1 MiB)
      // is loaded into a fresh store, then rewritten; their peak RSS against the RSS before.
      const std::string file = std::string(argv[2]) + "/reload-history.bin";
      std::remove(file.c_str());
      {
        history::store writer(budget);
        std::string report;
        auto f = history::history_file::open(file, writer, report);
        if (!f) return 1;
        moving_text source(text);
        for (std::int64_t t = 1767225600000; f->size() < 2 * budget + (1U << 20); t += 60000) {
          if (!f->append(writer.append(t, *history::parse_exposition(source.next(true))))) return 1;
        }
      }
      ::malloc_trim(0);
      std::ofstream("/proc/self/clear_refs") << "5";  // the peak (VmHWM) starts again from here
      const long before = rss_kib();
      history::store loaded(budget);
      std::string report;
      auto f = history::history_file::open(file, loaded, report);
      if (!f) return 1;
      const long load_peak = status_kib("VmHWM") - before;
      if (!f->rewrite(loaded)) return 1;
      const long rewrite_peak = status_kib("VmHWM") - before;
      std::printf("restart with the largest file (%zu KiB): peak RSS growth %ld KiB while loading, %ld KiB with the rewrite "
                  "(budget + 2 MiB = %zu KiB)\n",
                  static_cast<std::size_t>(2 * budget + (1U << 20)) / 1024, load_peak, rewrite_peak, budget / 1024 + 2048);
    }
    std::fflush(stdout);
    std::_Exit(0);
  }
  return 0;
}
