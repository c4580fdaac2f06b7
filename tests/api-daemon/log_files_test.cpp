// Log file names and tails: only plain names, and the last N lines exactly.
#include <catch2/catch.hpp>

#include "api-daemon/log_files.hpp"

using namespace smsbridge::api;

TEST_CASE("only plain file names are served") {
  CHECK(is_safe_log_name("sms-bridge-api.log"));
  CHECK(is_safe_log_name("sms-bridge-api.log.1"));
  CHECK_FALSE(is_safe_log_name(".."));
  CHECK_FALSE(is_safe_log_name(".hidden"));
  CHECK_FALSE(is_safe_log_name("a/b"));
  CHECK_FALSE(is_safe_log_name("..%2Fetc"));
  CHECK_FALSE(is_safe_log_name(""));
  CHECK_FALSE(is_safe_log_name(std::string(65, 'a')));
}

TEST_CASE("last_lines keeps the last n lines") {
  CHECK(last_lines("a\nb\nc\n", 2) == "b\nc\n");
  CHECK(last_lines("a\nb\nc", 2) == "b\nc");
  CHECK(last_lines("a\nb\nc\n", 10) == "a\nb\nc\n");
  CHECK(last_lines("one line", 1) == "one line");
  CHECK(last_lines("a\nb\n", 0).empty());
}
