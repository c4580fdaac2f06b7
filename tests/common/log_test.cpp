// The levelled log: line format, the journal's <N> priority prefix, the threshold and the sink.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/log.hpp"
#include "../firewall-helper/temp_dir.hpp"

using namespace smsbridge;

namespace {
// Runs `body` with stderr redirected to a file and returns what was written there.
template <class F>
std::string capture_stderr(const temp_dir& dir, F body) {
  const std::string path = dir.file("stderr.txt");
  std::FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(::fileno(f), STDERR_FILENO);
  body();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::fclose(f);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// JOURNAL_STREAM as systemd would set it for the file now on stderr.
std::string journal_stream_of_stderr() {
  struct stat st {};
  REQUIRE(::fstat(STDERR_FILENO, &st) == 0);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}
}  // namespace

TEST_CASE("each level has its syslog priority and name") {
  CHECK(static_cast<int>(log::level::error) == 3);
  CHECK(static_cast<int>(log::level::warning) == 4);
  CHECK(static_cast<int>(log::level::notice) == 5);
  CHECK(static_cast<int>(log::level::info) == 6);
  CHECK(static_cast<int>(log::level::debug) == 7);
  CHECK(log::name(log::level::error) == "error");
  CHECK(log::name(log::level::notice) == "notice");
  CHECK(log::name(log::level::debug) == "debug");
}

TEST_CASE("a line names the program and level, or carries the priority for the journal") {
  CHECK(log::format_line(log::level::warning, "drift repaired", "prog", false) == "prog: warning: drift repaired\n");
  CHECK(log::format_line(log::level::error, "nft failed", "prog", true) == "<3>error: nft failed\n");
  CHECK(log::format_line(log::level::notice, "x", "prog", true) == "<5>notice: x\n");
  CHECK(log::format_line(log::level::info, "x", "prog", true) == "<6>info: x\n");
  CHECK(log::format_line(log::level::debug, "x", "prog", true) == "<7>debug: x\n");
}

TEST_CASE("a sentence with newlines stays one line") {
  CHECK(log::format_line(log::level::info, "one\ntwo\r\nthree", "p", false) == "p: info: one two  three\n");
}

TEST_CASE("the stderr sink writes one plain line when stderr is not the journal") {
  temp_dir dir;
  ::unsetenv("JOURNAL_STREAM");
  const std::string out = capture_stderr(dir, [] {
    log::scoped_sink s(log::stderr_sink("sms-test"));
    log::warning("port {} is busy", 9100);
  });
  CHECK(out == "sms-test: warning: port 9100 is busy\n");
}

TEST_CASE("the stderr sink prefixes the syslog priority when stderr is the journal") {
  temp_dir dir;
  const std::string out = capture_stderr(dir, [] {
    ::setenv("JOURNAL_STREAM", journal_stream_of_stderr().c_str(), 1);
    {
      log::scoped_sink s(log::stderr_sink("sms-test"));
      log::error("cannot write {}", "the state file");
      log::notice("opened");
    }
    ::unsetenv("JOURNAL_STREAM");
  });
  CHECK(out == "<3>error: cannot write the state file\n<5>notice: opened\n");
}

TEST_CASE("a JOURNAL_STREAM inherited by a redirected stderr is not taken for the journal") {
  temp_dir dir;
  ::setenv("JOURNAL_STREAM", "1:2", 1);
  const std::string out = capture_stderr(dir, [] {
    log::scoped_sink s(log::stderr_sink("sms-test"));
    log::info("started");
  });
  ::unsetenv("JOURNAL_STREAM");
  CHECK(out == "sms-test: info: started\n");
}

TEST_CASE("each event reaches the sink once, and the threshold drops the less severe") {
  std::vector<std::pair<log::level, std::string>> lines;
  log::scoped_sink s([&](log::level l, std::string_view m) { lines.emplace_back(l, std::string(m)); });
  log::info("a {}", 1);
  log::debug("not shown at the default threshold");
  log::set_threshold(log::level::debug);
  log::debug("shown");
  log::set_threshold(log::level::warning);
  log::notice("dropped");
  log::error("kept");
  log::set_threshold(log::level::info);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == std::pair{log::level::info, std::string("a 1")});
  CHECK(lines[1] == std::pair{log::level::debug, std::string("shown")});
  CHECK(lines[2] == std::pair{log::level::error, std::string("kept")});
}

TEST_CASE("a scoped sink restores the previous sink") {
  int outer = 0, inner = 0;
  log::scoped_sink a([&](log::level, std::string_view) { ++outer; });
  {
    log::scoped_sink b([&](log::level, std::string_view) { ++inner; });
    log::notice("to b");
  }
  log::notice("to a");
  CHECK(inner == 1);
  CHECK(outer == 1);
}
