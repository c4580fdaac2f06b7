// Benchmark of the firewall helper against its floors and against the old ways, in one run.
//
// Runs inside a network namespace made by bench/run.sh, next to a helper serving --socket. It
// prints a Markdown report: the two unavoidable costs of an Open (one libnftables transaction,
// one durable state write), the helper's Open and Close round trips with 10, 1,000 and 10,000
// live grants, the same change made the old ways (one `nft` process per operation, one
// `iptables` process per operation), the helper's peak RSS and its wake-ups while idle.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "proto/helper_client.hpp"
#include "firewall-helper/nft_context.hpp"
#include "firewall-helper/ruleset.hpp"
#include "firewall-helper/state_store.hpp"

extern char** environ;

namespace fw = smsbridge::firewall;
using clock_type = std::chrono::steady_clock;

namespace {
struct options {
  std::string socket;
  int helper_pid = 0;
  std::string work_dir;
  int iterations = 200;
  int cli_iterations = 40;
  int idle_seconds = 60;
  std::vector<int> levels{10, 1000, 10000};
};

struct stats {
  double median_us = 0, p99_us = 0;
};

stats summarize(std::vector<double> us) {
  if (us.empty()) return {};
  std::sort(us.begin(), us.end());
  const auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<std::size_t>(q * static_cast<double>(us.size())))]; };
  return {at(0.5), at(0.99)};
}

double since_us(clock_type::time_point start) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - start).count();
}

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "helper_bench: %s\n", message.c_str());
  std::exit(1);
}

// Runs a command (no shell), output discarded; dies if it fails.
void spawn(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) die("cannot run " + argv[0]);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("command failed: " + argv[0] + " " + argv[1] + " ...");
}

std::string source_of(int i) { return fmt::format("10.{}.{}.{}/32", 64 + i / 65536, (i / 256) % 256, i % 256); }
std::string service_of(int i) { return fmt::format("s{}", i); }
std::uint16_t port_of(int i) { return static_cast<std::uint16_t>(20000 + i); }

fw::v1::Response call(fw::helper_client& c, const fw::v1::Request& r) {
  auto resp = c.call(r);
  if (!resp) die(resp.error().message);
  if (resp->has_error()) die(fmt::format("the helper refused: {}", resp->error().message()));
  return *resp;
}

fw::v1::Request open_request(int i, std::uint32_t seconds) {
  fw::v1::Request r;
  auto* o = r.mutable_open();
  o->set_service(service_of(i));
  o->set_external_port(port_of(i));
  o->set_source(source_of(i));
  o->set_duration_seconds(seconds);
  o->set_actor("bench");
  return r;
}

// An open-many of the doors first..first+count-1: what the api-daemon's open-all sends.
fw::v1::Request open_many_request(int first, int count, std::uint32_t seconds) {
  fw::v1::Request r;
  for (int i = first; i < first + count; ++i) *r.mutable_open_many()->add_doors() = open_request(i, seconds).open();
  return r;
}

fw::v1::Request close_request(int i) {
  fw::v1::Request r;
  r.mutable_close()->set_service(service_of(i));
  r.mutable_close()->set_actor("bench");
  return r;
}

void ack_all(fw::helper_client& c) {
  fw::v1::Request ev;
  ev.mutable_events()->set_max(1);
  auto next = call(c, ev).events().next_seq();
  if (next <= 1) return;
  fw::v1::Request ack;
  ack.mutable_ack()->set_seq(next - 1);
  call(c, ack);
}

std::string proc_field(int pid, const std::string& file, const std::string& key) {
  std::ifstream in(fmt::format("/proc/{}/{}", pid, file));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return line.substr(key.size() + 1);
  return "";
}

long context_switches(int pid) {
  long total = 0;
  for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid))) {
    std::ifstream in(task.path() / "status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 || line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
        total += std::stol(line.substr(line.find(':') + 1));
      }
    }
  }
  return total;
}

// ---- floors ------------------------------------------------------------------------------

// The two costs an Open cannot avoid, sampled between helper round trips so that both see the
// same machine noise: one libnftables transaction (exactly an Open's batch, on a table of its
// own) and one durable state write (an fdatasync'd journal append of an Open's two records); the
// two at once, as the helper's Open runs them (the append on the store's disk thread); and for
// comparison the classic tmp + fsync + rename + directory fsync.
class floors {
 public:
  explicit floors(const options& o)
      : append_store_(o.work_dir + "/floor-append.json"), rename_store_(o.work_dir + "/floor-rename.json") {
    auto config = *fw::parse_config(R"({"table": "bench_floor", "services": {"x": {"target": "127.0.0.1:1"}}})");
    if (auto r = nft_.run(fw::render_table(config, {}), fw::nft_output::text); !r) die(r.error().message);
    append_store_.load();
    rename_store_.load();
    auto* g = record_.mutable_opened();
    g->set_grant_id("0123456789abcdef0123456789abcdef");
    g->set_service("metrics");
    g->set_external_port(9100);
    g->set_target("127.0.0.1:8080");
    g->set_source("10.0.0.2/32");
    g->set_opened_by("bench");
    snapshot_.set_format(1);
    snapshot_.set_next_event_seq(1);
    *snapshot_.add_grants() = *g;
  }
  ~floors() { (void)nft_.run("delete table inet bench_floor\n", fw::nft_output::text); }

  void sample() {
    const fw::grant_rule g{*fw::parse_cidr("10.200.0.1"), 30000, *fw::parse_endpoint("127.0.0.1:1")};
    const std::string add = fw::render_add_grant("bench_floor", g, std::chrono::hours(1));
    auto start = clock_type::now();
    if (auto r = nft_.run(add, fw::nft_output::text); !r) die(r.error().message);
    nft_us.push_back(since_us(start));
    if (auto r = nft_.run(fw::render_delete_grant("bench_floor", g, true), fw::nft_output::text); !r) die(r.error().message);
    start = clock_type::now();
    if (auto r = append_store_.append({record_, record_}); !r) die(r.error().message);
    append_us.push_back(since_us(start));
    start = clock_type::now();
    append_store_.begin_append({record_, record_});
    if (auto r = nft_.run(add, fw::nft_output::text); !r) die(r.error().message);
    if (auto r = append_store_.finish_append(); !r) die(r.error().message);
    both_us.push_back(since_us(start));
    if (auto r = nft_.run(fw::render_delete_grant("bench_floor", g, true), fw::nft_output::text); !r) die(r.error().message);
    start = clock_type::now();
    if (auto r = rename_store_.write_snapshot(snapshot_); !r) die(r.error().message);
    rename_us.push_back(since_us(start));
  }

  std::vector<double> nft_us, append_us, both_us, rename_us;

 private:
  fw::nft_context nft_;
  fw::state_store append_store_, rename_store_;
  fw::state::JournalRecord record_;
  fw::state::Snapshot snapshot_;
};

// ---- old ways ----------------------------------------------------------------------------

// One `nft` process per change, against a table holding `live` elements.
std::pair<stats, stats> nft_cli(const options& o, int live) {
  const std::string path = o.work_dir + "/cli.nft";
  {
    std::ofstream f(path);
    f << "table inet bench_cli {\n  set grants4 {\n    type ipv4_addr . inet_service\n    flags interval,timeout\n  }\n}\n";
    for (int i = 0; i < live; ++i) f << fmt::format("add element inet bench_cli grants4 {{ {} . {} timeout 3600s }}\n", source_of(i), port_of(i));
  }
  spawn({"nft", "-f", path});
  std::vector<double> add_us, del_us;
  for (int i = 0; i < o.cli_iterations; ++i) {
    const std::string element = fmt::format("{{ {} . {} }}", source_of(live + 1), port_of(live + 1));
    auto start = clock_type::now();
    spawn({"nft", "add", "element", "inet", "bench_cli", "grants4",
           fmt::format("{{ {} . {} timeout 3600s }}", source_of(live + 1), port_of(live + 1))});
    add_us.push_back(since_us(start));
    start = clock_type::now();
    spawn({"nft", "delete", "element", "inet", "bench_cli", "grants4", element});
    del_us.push_back(since_us(start));
  }
  spawn({"nft", "delete", "table", "inet", "bench_cli"});
  return {summarize(add_us), summarize(del_us)};
}

// One `iptables` process per change (as the original did), with `live` rules present.
std::pair<stats, stats> iptables_cli(const options& o, int live) {
  const std::string path = o.work_dir + "/rules.iptables";
  {
    std::ofstream f(path);
    f << "*filter\n:INPUT ACCEPT [0:0]\n";
    for (int i = 0; i < live; ++i) f << fmt::format("-A INPUT -s {} -p tcp --dport {} -j ACCEPT\n", source_of(i), port_of(i));
    f << "COMMIT\n";
  }
  spawn({"iptables-restore", path});
  std::vector<double> add_us, del_us;
  const std::string src = source_of(live + 1), port = std::to_string(port_of(live + 1));
  for (int i = 0; i < o.cli_iterations; ++i) {
    auto start = clock_type::now();
    spawn({"iptables", "-A", "INPUT", "-s", src, "-p", "tcp", "--dport", port, "-j", "ACCEPT"});
    add_us.push_back(since_us(start));
    start = clock_type::now();
    spawn({"iptables", "-D", "INPUT", "-s", src, "-p", "tcp", "--dport", port, "-j", "ACCEPT"});
    del_us.push_back(since_us(start));
  }
  spawn({"iptables", "-F", "INPUT"});
  return {summarize(add_us), summarize(del_us)};
}

std::string ms(double us) { return us >= 1000 ? fmt::format("{:.1f} ms", us / 1000) : fmt::format("{:.0f} µs", us); }
}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--socket") o.socket = v;
    else if (a == "--helper-pid") o.helper_pid = std::stoi(v);
    else if (a == "--work-dir") o.work_dir = v;
    else if (a == "--iterations") o.iterations = std::stoi(v);
    else if (a == "--idle-seconds") o.idle_seconds = std::stoi(v);
    else die("unknown option " + a);
  }
  if (o.socket.empty() || o.helper_pid == 0 || o.work_dir.empty()) {
    die("usage: helper_bench --socket PATH --helper-pid PID --work-dir DIR [--iterations N] [--idle-seconds S]");
  }

  struct level_result {
    int live;
    stats open, close, nft, append, both, rename;
    std::string rss, anon;
  };
  // open-all of open_all_doors doors: one open-many against that many Opens, alternated, at the
  // first level. The doors are the services after the loop's own (bench/run.sh configures them).
  constexpr int open_all_doors = 8;
  stats many_open, one_by_one;
  std::vector<level_result> results;
  std::string peak_rss;
  std::vector<std::pair<int, std::pair<stats, stats>>> nft_old, ipt_old;
  {
  auto client = fw::helper_client::connect(o.socket, std::chrono::seconds(30));
  if (!client) die(client.error().message);
  int live = 0;
  const int bench_service = o.levels.back();  // s<max>: the service opened and closed in the loop
  for (int level : o.levels) {
    for (; live < level; ++live) {
      call(*client, open_request(live, 3600));
      if (live % 1000 == 999) ack_all(*client);
    }
    ack_all(*client);
    floors f(o);
    std::vector<double> open_us, close_us;
    const int warmup = 20;
    for (int i = -warmup; i < o.iterations; ++i) {
      f.sample();
      auto start = clock_type::now();
      call(*client, open_request(bench_service, 3600));
      const double open_time = since_us(start);
      start = clock_type::now();
      call(*client, close_request(bench_service));
      const double close_time = since_us(start);
      if (i >= 0) {
        open_us.push_back(open_time);
        close_us.push_back(close_time);
      }
      if (i % 100 == 99) ack_all(*client);
    }
    ack_all(*client);
    if (level == o.levels.front()) {
      std::vector<double> many_us, single_us;
      const int first = bench_service + 1;
      const auto close_them = [&] {
        for (int k = first; k < first + open_all_doors; ++k) call(*client, close_request(k));
        ack_all(*client);
      };
      for (int i = -5; i < std::max(10, o.iterations / 4); ++i) {
        auto start = clock_type::now();
        const auto answer = call(*client, open_many_request(first, open_all_doors, 3600));
        const double many_time = since_us(start);
        for (const auto& outcome : answer.open_many().outcomes())
          if (!outcome.has_grant()) die("the open-many refused a door: " + outcome.error().message());
        close_them();
        start = clock_type::now();
        for (int k = first; k < first + open_all_doors; ++k) call(*client, open_request(k, 3600));
        const double single_time = since_us(start);
        close_them();
        if (i >= 0) {
          many_us.push_back(many_time);
          single_us.push_back(single_time);
        }
      }
      many_open = summarize(many_us);
      one_by_one = summarize(single_us);
    }
    f.nft_us.erase(f.nft_us.begin(), f.nft_us.begin() + warmup);
    f.append_us.erase(f.append_us.begin(), f.append_us.begin() + warmup);
    f.both_us.erase(f.both_us.begin(), f.both_us.begin() + warmup);
    f.rename_us.erase(f.rename_us.begin(), f.rename_us.begin() + warmup);
    results.push_back({level, summarize(open_us), summarize(close_us), summarize(f.nft_us), summarize(f.append_us),
                       summarize(f.both_us), summarize(f.rename_us), proc_field(o.helper_pid, "status", "VmRSS"),
                       proc_field(o.helper_pid, "status", "RssAnon")});
  }
  peak_rss = proc_field(o.helper_pid, "status", "VmHWM");

  fw::v1::Request close_all;
  close_all.mutable_close_all()->set_actor("bench");
  call(*client, close_all);
  ack_all(*client);
  }  // the client disconnects: no door, no connection, nothing should wake the helper
  for (int level : o.levels) nft_old.push_back({level, nft_cli(o, level)});
  for (int level : o.levels) ipt_old.push_back({level, iptables_cli(o, level)});
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const long before = context_switches(o.helper_pid);
  std::this_thread::sleep_for(std::chrono::seconds(o.idle_seconds));
  const long wakeups = context_switches(o.helper_pid) - before;

  const auto trim = [](std::string v) { return v.empty() ? std::string("?") : v.substr(v.find_first_not_of(" \t")); };
  std::printf("### Floors (the two costs an Open cannot avoid), sampled between the round trips below\n\n");
  std::printf("| live grants | libnftables transaction (an Open's batch) | fdatasync'd journal append | the larger of the two | the two at once, bare | the two one after the other (sum) | for comparison: tmp + fsync + rename + dir fsync |\n|---|---|---|---|---|---|---|\n");
  for (const auto& r : results) {
    std::printf("| %d | %s (p99 %s) | %s (p99 %s) | **%s** | %s (p99 %s) | %s | %s (p99 %s) |\n", r.live, ms(r.nft.median_us).c_str(),
                ms(r.nft.p99_us).c_str(), ms(r.append.median_us).c_str(), ms(r.append.p99_us).c_str(),
                ms(std::max(r.nft.median_us, r.append.median_us)).c_str(), ms(r.both.median_us).c_str(), ms(r.both.p99_us).c_str(),
                ms(r.nft.median_us + r.append.median_us).c_str(), ms(r.rename.median_us).c_str(), ms(r.rename.p99_us).c_str());
  }
  std::printf("\n### Helper round trip (client → socket → validate → nft batch and journal at once → answer)\n\n");
  std::printf("Open runs its two halves at once, so its floor is the larger of the two; Close still runs them one after the other "
              "(kernel, then journal), so its floor is their sum.\n\n");
  std::printf("| live grants | Open median | Open p99 | Close median | Close p99 | Open / the larger floor | Open / the two at once, bare | Close / sum of floors | helper RSS | of which anonymous |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : results) {
    const double larger_us = std::max(r.nft.median_us, r.append.median_us), sum_us = r.nft.median_us + r.append.median_us;
    std::printf("| %d | %s | %s | %s | %s | %.2f× | %.2f× | %.2f× | %s | %s |\n", r.live, ms(r.open.median_us).c_str(),
                ms(r.open.p99_us).c_str(), ms(r.close.median_us).c_str(), ms(r.close.p99_us).c_str(), r.open.median_us / larger_us,
                r.open.median_us / r.both.median_us, r.close.median_us / sum_us, trim(r.rss).c_str(), trim(r.anon).c_str());
  }
  std::printf("\nFlatness, median at %d grants / median at %d: Open %.2f, Close %.2f\n\n", o.levels.back(), o.levels.front(),
              results.back().open.median_us / results.front().open.median_us,
              results.back().close.median_us / results.front().close.median_us);

  std::printf("### open-all: %d doors in one open-many (one nft batch, one journal write) against %d Opens, alternated, at %d live grants\n\n",
              open_all_doors, open_all_doors, o.levels.front());
  std::printf("| way | median | p99 | per door |\n|---|---|---|---|\n");
  std::printf("| one open-many | %s | %s | %s |\n", ms(many_open.median_us).c_str(), ms(many_open.p99_us).c_str(),
              ms(many_open.median_us / open_all_doors).c_str());
  std::printf("| %d Opens, one after the other | %s | %s | %s |\n", open_all_doors, ms(one_by_one.median_us).c_str(),
              ms(one_by_one.p99_us).c_str(), ms(one_by_one.median_us / open_all_doors).c_str());
  std::printf("\nopen-many faster by %.2f× (median)\n\n", many_open.median_us > 0 ? one_by_one.median_us / many_open.median_us : 0.0);

  std::printf("### The old ways, same change, same run\n\n");
  std::printf("Add and delete here change the kernel only; the helper's Open and Close also make the change durable.\n\n");
  std::printf("| way | live entries | add median | delete median | helper Open faster by | helper Close faster by | open + close cycle faster by |\n|---|---|---|---|---|---|---|\n");
  for (std::size_t i = 0; i < o.levels.size(); ++i) {
    for (const auto* old : {&nft_old, &ipt_old}) {
      const auto& [level, pair] = (*old)[i];
      std::printf("| %s | %d | %s | %s | %.1f× | %.0f× | %.0f× |\n",
                  old == &nft_old ? "one `nft` process per change" : "one `iptables` process per change", level,
                  ms(pair.first.median_us).c_str(), ms(pair.second.median_us).c_str(),
                  pair.first.median_us / results[i].open.median_us, pair.second.median_us / results[i].close.median_us,
                  (pair.first.median_us + pair.second.median_us) / (results[i].open.median_us + results[i].close.median_us));
    }
  }
  std::printf("\n### Resources\n\n");
  std::printf("| measure | value |\n|---|---|\n");
  std::printf("| helper peak RSS over the whole run (VmHWM, up to %d live grants) | %s |\n", o.levels.back(), trim(peak_rss).c_str());
  std::printf("| helper wake-ups (context switches) in %d s with no live grant | %ld |\n", o.idle_seconds, wakeups);
  return 0;
}
