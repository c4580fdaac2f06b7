// Reading log files for the admin API: regular files directly under the log directory or one
// folder below it (the compose stack mounts PostgreSQL's logs there), never through a link or out
// of it, and never more than a bounded amount.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace smsbridge::api {

inline constexpr std::size_t max_log_download = 10u << 20;
inline constexpr std::size_t max_tail_lines = 10000;

struct log_file {
  std::string name;  // e.g. "sms-bridge-api.log", or "postgres/postgresql-2026-12-01.log" one folder down
  std::uint64_t bytes = 0;
  std::int64_t modified_unix = 0;
};

// The regular files directly in `dir` and in its folders (not deeper), by name (at most 1000).
fallible<std::vector<log_file>> list_log_files(const std::string& dir);

// True for names made of A-Z a-z 0-9 . _ - (1 to 64), not starting with '.'.
bool is_safe_log_name(std::string_view name);

enum class log_read_error { not_found, too_large, unreadable };

// True for "NAME" or "FOLDER/NAME" where each part is a safe log name.
bool is_safe_log_path(std::string_view path);

// The whole file (if at most max_log_download bytes) or its last `tail_lines` lines. `name` is a
// file ("sms-bridge-api.log", "postgres/postgresql-2026-12-01.log") or a folder, which means its
// newest file (the seed's /logs/download/postgres).
boost::system::result<std::string, log_read_error> read_log_file(const std::string& dir, std::string_view name,
                                                                 std::optional<std::size_t> tail_lines);

// The services the original's logs/list and logs/download/{service} name.
inline constexpr std::string_view log_services[] = {"application", "postgres", "redis"};

// The newest file (by modification time) of a service among `files` (as list_log_files gives
// them), or nullopt when it has none or `service` is not one of log_services:
// application = sms-bridge-api.log (the rotating sink's current file); postgres = postgresql*.log;
// redis = redis*.log. Those two are found directly in the directory (the compose stack shares one
// log volume) or one folder down in postgres/, postgresql/ or redis/ (the original's layout).
std::optional<log_file> newest_service_log(const std::vector<log_file>& files, std::string_view service);

// The last n lines of text (pure, for tests).
std::string last_lines(std::string_view text, std::size_t n);

}  // namespace smsbridge::api
