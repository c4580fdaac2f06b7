// Log file names and tails: only plain names, and the last N lines exactly.
#include <catch2/catch.hpp>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>


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

TEST_CASE("a file one folder down is a safe path; deeper, dotted or empty parts are not") {
  CHECK(is_safe_log_path("sms-bridge-api.log"));
  CHECK(is_safe_log_path("postgres/postgresql-2026-12-01.log"));
  CHECK_FALSE(is_safe_log_path("postgres/../../etc/passwd"));
  CHECK_FALSE(is_safe_log_path("a/b/c"));
  CHECK_FALSE(is_safe_log_path("../x"));
  CHECK_FALSE(is_safe_log_path("postgres/"));
  CHECK_FALSE(is_safe_log_path("/etc"));
}

TEST_CASE("files one folder down are listed and served, a folder means its newest file, and links are never followed") {
  char tmpl[] = "/tmp/sms-bridge-logs-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  std::filesystem::create_directory(dir / "postgres");
  std::filesystem::create_directory(dir / "postgres" / "deeper");
  std::ofstream(dir / "sms-bridge-api.log") << "api\n";
  std::ofstream(dir / "postgres" / "postgresql-old.log") << "old\n";
  std::ofstream(dir / "postgres" / "postgresql-new.log") << "new\n";
  std::ofstream(dir / "postgres" / "deeper" / "hidden.log") << "too deep\n";
  std::filesystem::last_write_time(dir / "postgres" / "postgresql-old.log",
                                   std::filesystem::last_write_time(dir / "postgres" / "postgresql-new.log") - std::chrono::hours(1));
  std::filesystem::create_directory_symlink("/etc", dir / "etc-link");

  auto files = list_log_files(dir.string());
  REQUIRE(files.has_value());
  std::vector<std::string> names;
  for (const auto& f : *files) names.push_back(f.name);
  CHECK(names == std::vector<std::string>{"postgres/postgresql-new.log", "postgres/postgresql-old.log", "sms-bridge-api.log"});

  auto old_file = read_log_file(dir.string(), "postgres/postgresql-old.log", std::nullopt);
  REQUIRE(old_file.has_value());
  CHECK(*old_file == "old\n");
  auto newest = read_log_file(dir.string(), "postgres", std::nullopt);
  REQUIRE(newest.has_value());
  CHECK(*newest == "new\n");
  CHECK(read_log_file(dir.string(), "etc-link/passwd", std::nullopt).error() == log_read_error::not_found);
  CHECK(read_log_file(dir.string(), "postgres/deeper", std::nullopt).error() == log_read_error::not_found);
  std::filesystem::remove_all(dir);
}

TEST_CASE("the original's log services name the newest file of each, flat or one folder down") {
  const std::vector<log_file> files{{"sms-bridge-api.log", 10, 500},
                                    {"sms-bridge-api.log.1", 10, 400},
                                    {"postgresql-2026-11-30.log", 10, 100},
                                    {"postgres/postgresql-2026-12-01.log", 10, 300},
                                    {"postgres/postgresql-2026-11-29.log", 10, 50},
                                    {"pgbouncer.log", 10, 900},
                                    {"redis.log", 10, 200},
                                    {"elsewhere/redis.log", 10, 999}};
  CHECK(newest_service_log(files, "application")->name == "sms-bridge-api.log");
  CHECK(newest_service_log(files, "postgres")->name == "postgres/postgresql-2026-12-01.log");
  CHECK(newest_service_log(files, "redis")->name == "redis.log");
  CHECK_FALSE(newest_service_log(files, "pgbouncer").has_value());  // not one of the original's three
  CHECK_FALSE(newest_service_log(files, "sms-bridge-api.log").has_value());
  CHECK_FALSE(newest_service_log({{"sms-bridge-api.log.1", 1, 1}}, "application").has_value());
  CHECK_FALSE(newest_service_log({}, "postgres").has_value());
}
