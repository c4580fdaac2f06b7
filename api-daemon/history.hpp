// The metrics history's shell: every interval it samples what /metrics serves plus PostgreSQL's
// health figures, keeps them in the store (history_store.hpp) and appends them to the file; and
// GET /metrics/history answers them as OpenMetrics pages. The server thereby keeps the hours the
// doors were closed, for the laptop to backfill.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "api-daemon/database.hpp"
#include "api-daemon/history_file.hpp"
#include "api-daemon/history_store.hpp"
#include "api-daemon/http_router.hpp"
#include "api-daemon/worker.hpp"

namespace smsbridge::api {

struct history_config {
  std::size_t bytes = 8U << 20;  // 0: no history
  std::uint32_t interval_seconds = 60;
  std::string file;  // empty: memory only
};

// PostgreSQL's health, with the names (and labels) postgres-exporter gives the same figures, so
// that backfilled samples continue the exporter's series on the laptop.
struct postgres_health {
  bool up = false;
  std::string datid, datname;
  double numbackends = 0, xact_commit = 0, xact_rollback = 0, deadlocks = 0, blks_hit = 0, blks_read = 0, size_bytes = 0;
};
std::string postgres_health_text(const postgres_health& h);
// Read over `db` (a connection of the history's own): pg_up 0 when it cannot be read.
boost::asio::awaitable<postgres_health> read_postgres_health(database& db);

// Where a tick's samples come from: text in the exposition format.
using sample_source = std::function<boost::asio::awaitable<std::string>()>;

class metrics_history {
 public:
  // Loads config.file if there is one; a file that cannot be opened leaves the history in memory
  // only, with a warning (the API itself must not fail to start for it).
  explicit metrics_history(const history_config& config);

  // One tick at t_ms: parses `text` and records it, then persists it (on the calling thread).
  fallible<void> record(std::int64_t t_ms, std::string_view text);
  // Every interval, until the executor stops: samples `source` and records it; the file is
  // written on a thread of its own, so a slow disk never holds the event loop.
  boost::asio::awaitable<void> run(sample_source source);

  const history::store& store() const { return store_; }
  bool enabled() const { return config_.bytes > 0; }
  bool persistent() const { return file_.has_value(); }

 private:
  struct pending_write {
    std::string records;
    bool rewrite = false;  // the file is rewritten from the store instead
  };
  fallible<pending_write> take(std::int64_t t_ms, std::string_view text);
  fallible<void> persist(const pending_write& w);

  history_config config_;
  history::store store_;
  std::optional<history::history_file> file_;
  std::unique_ptr<worker> disk_;
  bool file_failing_ = false;
};

// GET /metrics/history?since=S[&until=U] (UNIX seconds, decimals allowed; since inclusive, until
// exclusive): OpenMetrics with timestamps, at most about 1 MiB per answer; X-History-Next-Since
// gives the next page's since when more remain. X-History-Oldest/-Newest: what is kept.
handler history_endpoint(const metrics_history& history);

}  // namespace smsbridge::api
