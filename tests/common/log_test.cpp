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

TEST_CASE("a journal entry carries the message, priority, identifier, message id and fields; a newline is length-prefixed") {
  const std::string entry = log::journal_entry(log::level::notice, "e82c5e24b1a94b13a9edcc8dcee26587",
                                               {{"SMS_BRIDGE_SERVICE", "metrics"}, {"SMS_BRIDGE_REASON", "two\nlines"}},
                                               "opened door metrics", "sms-bridge-firewall-helper");
  CHECK(entry.rfind("MESSAGE=opened door metrics\nPRIORITY=5\nSYSLOG_IDENTIFIER=sms-bridge-firewall-helper\n"
                    "MESSAGE_ID=e82c5e24b1a94b13a9edcc8dcee26587\nSMS_BRIDGE_SERVICE=metrics\n",
                    0) == 0);
  const std::string binary = std::string("SMS_BRIDGE_REASON\n") + std::string("\x09\0\0\0\0\0\0\0", 8) + "two\nlines\n";
  CHECK(entry.size() >= binary.size());
  CHECK(entry.substr(entry.size() - binary.size()) == binary);
}

TEST_CASE("without the journal an event is the usual line through the sink, below the threshold nothing") {
  std::vector<std::pair<log::level, std::string>> seen;
  log::scoped_sink sink([&](log::level l, std::string_view s) { seen.emplace_back(l, std::string(s)); });
  log::event(log::level::notice, "1b496585feec46bd939d4811b720935c", {{"SMS_BRIDGE_SERVICE", "metrics"}}, "closed door metrics");
  log::event(log::level::debug, "1b496585feec46bd939d4811b720935c", {}, "not shown");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].first == log::level::notice);
  CHECK(seen[0].second == "closed door metrics");
}
