// The metrics history: the Gorilla-style codec (round trip, bit for bit), the store (pages, the
// OpenMetrics shape, the budget under 10,000 series), its file records (a torn tail dropped at
// every cut, damage stops the replay), the file itself, and GET /metrics/history's parameters.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <fmt/format.h>

#include "api-daemon/history.hpp"
#include "api-daemon/history_codec.hpp"
#include "api-daemon/history_file.hpp"
#include "api-daemon/history_store.hpp"
#include "api-daemon/history_text.hpp"

using namespace smsbridge::api;
using namespace smsbridge::api::history;

namespace {

std::uint64_t bits_of(double v) { return std::bit_cast<std::uint64_t>(v); }

// One tick's exposition: `series` counters of one family plus a gauge, values from `value(i)`.
std::string tick_text(std::size_t series, const std::function<double(std::size_t)>& value) {
  std::string text = "# HELP sms_bridge_requests_total Requests answered.\n# TYPE sms_bridge_requests_total counter\n";
  for (std::size_t i = 0; i < series; ++i) text += fmt::format("sms_bridge_requests_total{{route=\"/r{}\"}} {}\n", i, value(i));
  text += "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1.5e7\n";
  return text;
}

exposition parsed(const std::string& text) {
  auto e = parse_exposition(text);
  REQUIRE(e.has_value());
  return *e;
}

// Every (series, time, value) line of an OpenMetrics page, in order.
std::vector<std::string> sample_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') out.push_back(line);
  }
  return out;
}

// A store's whole file, as a rewrite writes it: the magic, then its snapshot's records.
std::string file_of(const store& s) {
  std::string file(file_magic);
  REQUIRE(s.snapshot([&](std::string_view record) {
    file += record;
    return true;
  }));
  return file;
}

struct temp_dir {
  std::string path;
  temp_dir() {
    char pattern[] = "/tmp/sms-history-test.XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path = pattern;
  }
  ~temp_dir() { std::system(fmt::format("rm -rf '{}'", path).c_str()); }
};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

}  // namespace

TEST_CASE("the codec gives back every value bit for bit and every timestamp, steady or not", "[history]") {
  std::mt19937_64 random(7);
  const std::size_t series = 6;
  std::vector<std::vector<double>> rows;
  std::vector<std::int64_t> times;
  std::int64_t t = 1767225600000;
  double counter = 0;
  for (int tick = 0; tick < 500; ++tick) {
    // Steady 60 s, jitter of a few ms, and now and then a long gap or a 1 ms step.
    const int kind = tick % 50;
    t += kind == 13 ? 86400000 : kind == 27 ? 1 : 60000 + static_cast<std::int64_t>(random() % 7) - 3;
    counter += static_cast<double>(random() % 100);
    rows.push_back({counter, 42.0, std::bit_cast<double>(random()), tick % 3 == 0 ? absent() : 0.25 * tick,
                    tick % 7 == 0 ? std::numeric_limits<double>::infinity() : std::nan(""), -1e-300 * tick});
    times.push_back(t);
  }
  block_encoder encoder(times[0], series);
  std::vector<std::uint8_t> stream;
  std::vector<std::size_t> tick_ends;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    encoder.append(times[i], rows[i], stream);
    tick_ends.push_back(stream.size());
  }
  const auto decoded = decode_block(times[0], series, rows.size(), stream);
  REQUIRE(decoded.whole);
  REQUIRE(decoded.times == times);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t s = 0; s < series; ++s) CHECK(bits_of(decoded.values[i * series + s]) == bits_of(rows[i][s]));
  }
  // The rebuilt encoder goes on exactly where the first one stopped.
  auto more = stream;
  auto again = stream;
  auto rebuilt = decoded.encoder;
  encoder.append(t + 60000, rows[5], more);
  rebuilt.append(t + 60000, rows[5], again);
  CHECK(more == again);
  // Cut inside a tick: the whole ticks before the cut, flagged as not whole.
  const auto cut = decode_block(times[0], series, rows.size(), std::span(stream).first(tick_ends[99] + 1));
  CHECK_FALSE(cut.whole);
  CHECK(cut.times.size() == 100);
  // A steady counter is cheap: about a bit per unchanged value.
  block_encoder steady(0, 1);
  std::vector<std::uint8_t> small;
  for (int i = 0; i < 120; ++i) steady.append(i * 60000, std::vector<double>{1234.0}, small);
  CHECK(small.size() <= 8 + 2 * 119);
}

TEST_CASE("the exposition parser assigns samples to families and refuses what is not the format", "[history]") {
  const auto e = parsed(
      "# HELP h_seconds Latency.\n# TYPE h_seconds histogram\n"
      "h_seconds_bucket{route=\"/a\",le=\"0.1\"} 1\nh_seconds_bucket{route=\"/a\",le=\"+Inf\"} 2\n"
      "h_seconds_sum{route=\"/a\"} 0.3\nh_seconds_count{route=\"/a\"} 2\n"
      "# TYPE g gauge\ng{path=\"a \\\"b\\\" {c}\"} -Inf\nlonely 3\n");
  REQUIRE(e.samples.size() == 6);
  CHECK(e.families[e.samples[0].family].name == "h_seconds");
  CHECK(e.families[e.samples[3].family].name == "h_seconds");
  CHECK(e.samples[4].series == "g{path=\"a \\\"b\\\" {c}\"}");
  CHECK(std::isinf(e.samples[4].value));
  CHECK(e.families[e.samples[5].family].name == "lonely");
  CHECK(e.families[e.samples[5].family].type == "untyped");
  CHECK(series_labels(e.samples[4].series).at(0).second == "a \\\"b\\\" {c}");
  for (const char* bad : {"x{a=\"1\" 2\n", "x nope\n", "# TYPE x sometimes\n", "1x 2\n", "x\n"}) {
    INFO(bad);
    CHECK_FALSE(parse_exposition(bad).has_value());
  }
  CHECK(openmetrics_of({"a_total", "counter", ""}).name == "a");
  CHECK(openmetrics_of({"pg_stat_database_xact_commit", "counter", ""}).type == "unknown");
  CHECK(openmetrics_seconds(1767225600123) == "1767225600.123");
  CHECK(openmetrics_seconds(5) == "0.005");
}

TEST_CASE("a page is OpenMetrics: families whole, histogram points grouped, times in order, # EOF", "[history]") {
  store s(8U << 20);
  for (int tick = 0; tick < 3; ++tick) {
    const auto text = fmt::format(
        "# TYPE h_seconds histogram\nh_seconds_bucket{{le=\"+Inf\"}} {0}\nh_seconds_bucket{{le=\"0.5\"}} {0}\n"
        "h_seconds_sum {0}\nh_seconds_count {0}\n# TYPE c_total counter\nc_total {0}\n",
        tick + 1);
    s.append(1000 * (tick + 1), parsed(text));
  }
  const auto p = s.read(0, std::numeric_limits<std::int64_t>::max(), 1 << 20);
  CHECK_FALSE(p.next_ms);
  CHECK(p.samples == 15);
  CHECK(p.text ==
        "# TYPE c counter\nc_total 1 1.000\nc_total 2 2.000\nc_total 3 3.000\n"
        "# TYPE h_seconds histogram\n"
        "h_seconds_bucket{le=\"0.5\"} 1 1.000\nh_seconds_bucket{le=\"+Inf\"} 1 1.000\nh_seconds_count 1 1.000\nh_seconds_sum 1 1.000\n"
        "h_seconds_bucket{le=\"0.5\"} 2 2.000\nh_seconds_bucket{le=\"+Inf\"} 2 2.000\nh_seconds_count 2 2.000\nh_seconds_sum 2 2.000\n"
        "h_seconds_bucket{le=\"0.5\"} 3 3.000\nh_seconds_bucket{le=\"+Inf\"} 3 3.000\nh_seconds_count 3 3.000\nh_seconds_sum 3 3.000\n"
        "# EOF\n");
  // since is inclusive, until exclusive.
  CHECK(sample_lines(s.read(2000, 3000, 1 << 20).text) == std::vector<std::string>{"c_total 2 2.000", "h_seconds_bucket{le=\"0.5\"} 2 2.000",
                                                                                    "h_seconds_bucket{le=\"+Inf\"} 2 2.000", "h_seconds_count 2 2.000",
                                                                                    "h_seconds_sum 2 2.000"});
  // A tick whose time is not after the newest is not kept (a clock stepped back).
  CHECK(s.append(3000, parsed("c_total 9\n")).empty());
  CHECK(s.ticks() == 3);
}

TEST_CASE("pages follow each other without a gap or a repeat, across blocks and new series", "[history]") {
  store s(8U << 20, 10);
  for (int tick = 0; tick < 95; ++tick) {
    // A series appears at tick 40 and is gone after tick 70.
    auto text = tick_text(20, [&](std::size_t i) { return tick * 10.0 + static_cast<double>(i); });
    if (tick >= 40 && tick <= 70) text += fmt::format("late {}\n", tick);
    s.append(60000 * (tick + 1), parsed(text));
  }
  const auto all = sample_lines(s.read(0, INT64_MAX, 64U << 20).text);
  CHECK(all.size() == 95 * 21 + 31);
  std::vector<std::string> paged;
  std::int64_t since = 0;
  int pages = 0;
  for (;;) {
    const auto p = s.read(since, INT64_MAX, 8000);
    ++pages;
    const auto lines = sample_lines(p.text);
    paged.insert(paged.end(), lines.begin(), lines.end());
    if (!p.next_ms) break;
    REQUIRE(*p.next_ms > since);
    since = *p.next_ms;
  }
  CHECK(pages > 5);
  std::sort(paged.begin(), paged.end());
  auto sorted = all;
  std::sort(sorted.begin(), sorted.end());
  CHECK(paged == sorted);
}

TEST_CASE("the budget holds under 10,000 series: the oldest blocks go, the newest read back right", "[history]") {
  const std::size_t budget = 8U << 20;
  store s(budget);
  std::mt19937 random(3);
  std::vector<double> counters(10000, 0);
  std::size_t max_bytes = 0;
  for (int tick = 0; tick < 700; ++tick) {
    for (auto& c : counters) c += static_cast<double>(random() % 2 == 0 ? random() % 1000 : 0);
    s.append(1767225600000 + 60000LL * tick, parsed(tick_text(counters.size(), [&](std::size_t i) { return counters[i]; })));
    max_bytes = std::max(max_bytes, s.bytes());
    REQUIRE(s.bytes() <= budget);
  }
  CHECK(s.series_count() == 10001);
  CHECK(*s.oldest_ms() > 1767225600000);  // something was evicted
  CHECK(*s.newest_ms() == 1767225600000 + 60000LL * 699);
  const auto last = s.read(*s.newest_ms(), INT64_MAX, 4U << 20);
  const auto lines = sample_lines(last.text);
  REQUIRE(lines.size() == 10001);
  CHECK(std::find(lines.begin(), lines.end(), fmt::format("sms_bridge_requests_total{{route=\"/r9999\"}} {} {}", counters[9999],
                                                          openmetrics_seconds(*s.newest_ms()))) != lines.end());
  WARN(fmt::format("10,000 series in 8 MiB: {} ticks kept, {:.2f} bytes per sample, at most {} bytes", s.ticks(),
                   static_cast<double>(s.bytes()) / static_cast<double>(s.ticks() * 10001), max_bytes));
}

TEST_CASE("the file records replay to the same history; a torn tail is dropped at any cut, damage stops the replay", "[history]") {
  store s(8U << 20, 4);
  std::string file(file_magic);
  std::vector<std::size_t> ends;
  for (int tick = 0; tick < 12; ++tick) {
    auto text = tick_text(5, [&](std::size_t i) { return tick * 1.5 + static_cast<double>(i); });
    if (tick == 6) text += "newcomer 1\n";
    file += s.append(1000 * (tick + 1), parsed(text));
    ends.push_back(file.size());
  }
  const auto everything = s.read(0, INT64_MAX, 1 << 20).text;
  {
    store back(8U << 20, 4);
    const auto r = back.replay(file);
    CHECK(r.dropped_bytes == 0);
    CHECK(r.ticks == 12);
    CHECK(back.read(0, INT64_MAX, 1 << 20).text == everything);
    // It goes on growing where it stopped, as the original does.
    const auto next = parsed(tick_text(5, [](std::size_t) { return 99.0; }));
    CHECK(back.append(13000, next) == s.append(13000, next));
  }
  {
    store again(8U << 20, 4);
    CHECK(again.replay(file_of(s)).ticks == 13);
    CHECK(again.read(0, INT64_MAX, 1 << 20).text == s.read(0, INT64_MAX, 1 << 20).text);
  }
  // Every cut inside the last tick's records leaves the first eleven ticks, nothing misread.
  for (std::size_t cut = ends[10] + 1; cut < ends[11]; ++cut) {
    store torn(8U << 20, 4);
    const auto r = torn.replay(std::string_view(file).substr(0, cut));
    REQUIRE(r.good_bytes == ends[10]);
    REQUIRE(r.dropped_bytes == cut - ends[10]);
    REQUIRE(torn.ticks() == 11);
  }
  // A flipped byte in the fourth tick's record: the replay stops before it.
  auto damaged = file;
  damaged[ends[3] - 2] = static_cast<char>(damaged[ends[3] - 2] ^ 0x40);
  store partial(8U << 20, 4);
  const auto r = partial.replay(damaged);
  CHECK(r.good_bytes < ends[3]);
  CHECK(partial.ticks() == 3);
  CHECK(sample_lines(partial.read(0, INT64_MAX, 1 << 20).text).size() == 3 * 6);
  // Not a history file at all.
  store none(8U << 20);
  CHECK(none.replay("hello").dropped_bytes == 5);
}

TEST_CASE("a series forgotten and seen again, and a clock stepped back after everything was evicted, replay whole", "[history]") {
  store s(6000, 2);  // a budget of a few blocks: the series comes back after its blocks were evicted
  std::string file(file_magic);
  std::int64_t t = 1000;
  const auto tick = [&](bool with_a) {
    std::string text = fmt::format("b {}\n", t);
    if (with_a) text += fmt::format("a {}\n", t * 2);
    file += s.append(t, parsed(text));
    t += 1000;
  };
  for (int i = 0; i < 4; ++i) tick(true);
  for (int i = 0; i < 200; ++i) tick(false);
  for (int i = 0; i < 4; ++i) tick(true);
  CHECK(s.series_count() == 2);
  store back(6000, 2);
  const auto r = back.replay(file);
  CHECK(r.dropped_bytes == 0);
  CHECK(back.read(0, INT64_MAX, 1 << 20).text == s.read(0, INT64_MAX, 1 << 20).text);
  // A tick older than one already evicted is refused too, so the file never holds a block its
  // replay would stop at.
  CHECK(s.append(500, parsed("b 1\n")).empty());
}

TEST_CASE("a file written under a larger budget loads within a smaller one, whole to its end", "[history]") {
  // Under the large budget `b` is never forgotten, so the last blocks name it by its first id; the
  // small budget lets it go while loading and must take it back when those blocks come.
  store large(8U << 20, 10);
  std::string file(file_magic);
  std::int64_t t = 1000;
  const auto tick = [&](bool with_b) {
    std::string text = tick_text(20, [&](std::size_t i) { return static_cast<double>(t) / 1000.0 + static_cast<double>(i); });
    if (with_b) text += fmt::format("b {}\n", t);
    file += large.append(t, parsed(text));
    t += 1000;
  };
  for (int i = 0; i < 100; ++i) tick(true);
  for (int i = 0; i < 400; ++i) tick(false);
  for (int i = 0; i < 30; ++i) tick(true);
  const std::size_t small_budget = 24U << 10;
  store small(small_budget, 10);
  const auto r = small.replay(file);
  CHECK(r.dropped_bytes == 0);
  CHECK(r.good_bytes == file.size());
  CHECK(small.bytes() <= small_budget);
  CHECK(*small.oldest_ms() > 100000);  // b's first blocks went
  CHECK(*small.newest_ms() == t - 1000);
  // What it kept reads as the large store reads the same times, b's last ticks included.
  const auto kept = small.read(*small.oldest_ms(), INT64_MAX, 16U << 20).text;
  CHECK(kept == large.read(*small.oldest_ms(), INT64_MAX, 16U << 20).text);
  CHECK(kept.find(fmt::format("b {} {}.000", t - 1000, (t - 1000) / 1000)) != std::string::npos);
  // And what it keeps, written out as a rewrite writes it, replays to the same.
  store again(small_budget, 10);
  CHECK(again.replay(file_of(small)).dropped_bytes == 0);
  CHECK(again.read(0, INT64_MAX, 16U << 20).text == kept);
}

TEST_CASE("the history file survives a restart, cuts a torn end off, and moves a stranger aside", "[history]") {
  temp_dir dir;
  const std::string path = dir.path + "/metrics-history.bin";
  const history_config config{8U << 20, 60, path};
  {
    metrics_history h(config);
    REQUIRE(h.persistent());
    for (int tick = 0; tick < 5; ++tick) REQUIRE(h.record(1000 * (tick + 1), tick_text(3, [&](std::size_t) { return tick * 1.0; })).has_value());
  }
  const auto size = read_file(path).size();
  {
    std::ofstream f(path, std::ios::binary | std::ios::app);
    f << std::string("\x30\x00\x00\x00\x01\x02\x03\x04SBgarbage", 18);  // a record a crash cut short
  }
  {
    metrics_history h(config);
    CHECK(h.store().ticks() == 5);
    CHECK(read_file(path).size() == size);  // the torn end is gone from the file too
    REQUIRE(h.record(6000, tick_text(3, [](std::size_t) { return 6.0; })).has_value());
  }
  {
    metrics_history h(config);
    CHECK(h.store().ticks() == 6);
    CHECK(*h.store().newest_ms() == 6000);
  }
  // A file that is not a history: kept, renamed, never overwritten.
  const std::string other = dir.path + "/other.bin";
  { std::ofstream(other) << "precious"; }
  metrics_history stranger({8U << 20, 60, other});
  CHECK(stranger.persistent());
  CHECK(read_file(other + ".not-history") == "precious");
  // A second stranger there does not overwrite the first one moved aside.
  { std::ofstream(other, std::ios::trunc) << "also precious"; }
  metrics_history stranger_again({8U << 20, 60, other});
  CHECK(read_file(other + ".not-history") == "precious");
  std::size_t asides = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) {
    if (entry.path().filename().string().starts_with("other.bin.not-history-")) {
      ++asides;
      CHECK(read_file(entry.path().string()) == "also precious");
    }
  }
  CHECK(asides == 1);
  // A file a crash left with part of the magic only: a new history, nothing moved aside.
  const std::string stub = dir.path + "/stub.bin";
  { std::ofstream(stub) << file_magic.substr(0, 3); }
  metrics_history from_stub({8U << 20, 60, stub});
  CHECK(from_stub.persistent());
  CHECK(read_file(stub) == file_magic);
  CHECK_FALSE(std::filesystem::exists(stub + ".not-history"));
  // A file that cannot be opened leaves the history in memory.
  metrics_history memory({8U << 20, 60, dir.path + "/missing/dir/file"});
  CHECK_FALSE(memory.persistent());
  CHECK(memory.record(1000, "x 1\n").has_value());
  CHECK(memory.store().ticks() == 1);
  // /metrics that is not the format: the tick is skipped with a sentence.
  const auto skipped = memory.record(2000, "x{ 1\n");
  REQUIRE_FALSE(skipped.has_value());
  CHECK(skipped.error().message.starts_with("the metrics history skipped a tick: /metrics line 1"));
}

TEST_CASE("a whole record this version cannot place keeps the file aside; what came before goes on", "[history]") {
  temp_dir dir;
  const std::string path = dir.path + "/metrics-history.bin";
  {
    metrics_history h({8U << 20, 60, path});
    for (int tick = 0; tick < 4; ++tick) REQUIRE(h.record(1000 * (tick + 1), tick_text(3, [&](std::size_t) { return tick * 1.0; })).has_value());
  }
  // A record of a kind this version does not know, its checksum right (as a newer daemon might
  // write), then more records after it.
  std::string original = read_file(path);
  const std::string payload = "Zfuture";
  std::uint32_t crc = 0xFFFFFFFFU;
  for (const char ch : payload) {
    crc ^= static_cast<unsigned char>(ch);
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? 0xEDB88320U ^ (crc >> 1) : crc >> 1;
  }
  crc ^= 0xFFFFFFFFU;
  std::string record;
  for (const std::uint32_t v : {static_cast<std::uint32_t>(payload.size()), crc}) {
    for (int i = 0; i < 4; ++i) record += static_cast<char>((v >> (8 * i)) & 0xFF);
  }
  original += record + payload + "and what a newer version wrote after it";
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << original; }
  {
    metrics_history h({8U << 20, 60, path});
    REQUIRE(h.persistent());
    CHECK(h.store().ticks() == 4);
    CHECK(read_file(path + ".unreadable") == original);  // kept whole, not cut
    REQUIRE(h.record(5000, tick_text(3, [](std::size_t) { return 5.0; })).has_value());
  }
  metrics_history again({8U << 20, 60, path});
  CHECK(again.store().ticks() == 5);
}

TEST_CASE("a page stays within its size; the running memory total matches a store built afresh", "[history]") {
  store s(64U << 10, 8);
  for (int tick = 0; tick < 1500; ++tick) {
    std::string text = "# HELP long_help_gauge " + std::string(300, 'h') + "\n# TYPE long_help_gauge gauge\n";
    for (int i = 0; i < 12; ++i) text += fmt::format("long_help_gauge{{i=\"{}\"}} {}\n", i, -1.2345678901234567e-300 * (tick + i + 1));
    text += tick_text(20, [&](std::size_t i) { return tick * 0.1 + static_cast<double>(i) / 3.0; });
    s.append(1767225600000 + 1000LL * tick, parsed(text));
  }
  REQUIRE(*s.oldest_ms() > 1767225600000);  // blocks were evicted: the total went down as well as up
  // Every size from a tick and a half to fifteen ticks: no page with more than one tick is larger.
  std::size_t pages = 0, over = 0;
  for (std::size_t max = 4000; max <= 40000; max += 250) {
    std::int64_t since = 0;
    for (int n = 0; n < 1000; ++n) {
      const auto p = s.read(since, INT64_MAX, max);
      ++pages;
      if (p.text.size() > max && sample_lines(p.text).size() > 33) ++over;
      if (!p.next_ms) break;
      since = *p.next_ms;
    }
  }
  CHECK(pages > 1000);
  CHECK(over == 0);
  store fresh(64U << 10, 8);
  fresh.replay(file_of(s));
  // The open block's capacity may differ; everything else is the same blocks and series.
  const auto a = static_cast<double>(s.bytes()), b = static_cast<double>(fresh.bytes());
  CHECK(std::abs(a - b) < 8192);
  CHECK(s.bytes() <= s.budget());
}

TEST_CASE("the file is rewritten from the store once it has grown well past it", "[history]") {
  temp_dir dir;
  const std::string path = dir.path + "/h.bin";
  metrics_history h({1U << 20, 60, path});
  std::size_t largest = 0;
  for (int tick = 0; tick < 3000; ++tick) {
    REQUIRE(h.record(1000LL * (tick + 1), tick_text(100, [&](std::size_t i) { return tick * 3.7 + static_cast<double>(i); })).has_value());
    largest = std::max<std::size_t>(largest, read_file(path).size());
  }
  CHECK(h.store().oldest_ms() > 1000);
  CHECK(largest <= 2 * (1U << 20) + (1U << 20) + 64 * 1024);
  metrics_history back({1U << 20, 60, path});
  CHECK(back.store().read(0, INT64_MAX, 64U << 20).text == h.store().read(0, INT64_MAX, 64U << 20).text);
}

TEST_CASE("GET /metrics/history: pages with a continuation, bounds checked with sentences, 404 when off", "[history]") {
  metrics_history h({1U << 20, 60, ""});
  for (int tick = 0; tick < 3; ++tick) REQUIRE(h.record(1767225600000 + 1000LL * tick, "# TYPE up_total counter\nup_total 1\n").has_value());
  const auto get = [](const metrics_history& history, const std::string& target) {
    boost::asio::io_context io;
    http_request request{http::verb::get, target, 11};
    // The handler, its request and context outlive the coroutine, as the router's do.
    const auto endpoint = history_endpoint(history);
    const request_context context{"127.0.0.1"};
    auto answer = boost::asio::co_spawn(io, endpoint(request, context), boost::asio::use_future);
    io.run();
    return answer.get();
  };
  auto r = get(h, "/metrics/history?since=1767225601&until=1767225602.5");
  CHECK(r.result() == http::status::ok);
  CHECK(r[http::field::content_type].starts_with("application/openmetrics-text"));
  CHECK(r.body() == "# TYPE up counter\nup_total 1 1767225601.000\nup_total 1 1767225602.000\n# EOF\n");
  CHECK(r["X-History-Oldest"] == "1767225600.000");
  CHECK(r["X-History-Newest"] == "1767225602.000");
  CHECK(r["X-History-Next-Since"].empty());
  for (const char* bad : {"/metrics/history?since=yesterday", "/metrics/history?until=-1", "/metrics/history?since=5&until=5"}) {
    INFO(bad);
    const auto refused = get(h, bad);
    CHECK(refused.result() == http::status::bad_request);
    CHECK(refused.body().find("\"detail\"") != std::string::npos);
  }
  metrics_history off({0, 60, ""});
  CHECK(get(off, "/metrics/history").result() == http::status::not_found);
  // PostgreSQL's figures with postgres-exporter's names, and pg_up alone when it is down.
  postgres_health pg;
  CHECK(postgres_health_text(pg).ends_with("pg_up 0\n"));
  pg = {true, "16384", "sms_bridge", 3, 10, 1, 0, 500, 20, 8e6};
  const auto text = postgres_health_text(pg);
  CHECK(text.find("pg_stat_database_xact_commit{datid=\"16384\",datname=\"sms_bridge\"} 10\n") != std::string::npos);
  CHECK(text.find("pg_database_size_bytes{datname=\"sms_bridge\"} 8000000\n") != std::string::npos);
  CHECK(parse_exposition(text).has_value());
  // A database named with a quote, a backslash and a newline still gives the format.
  pg.datname = "we\"ird\\na\nme";
  const auto odd = parse_exposition(postgres_health_text(pg));
  REQUIRE(odd.has_value());
  CHECK(postgres_health_text(pg).find("datname=\"we\\\"ird\\\\na\\nme\"") != std::string::npos);
}
