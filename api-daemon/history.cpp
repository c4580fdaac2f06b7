#include "api-daemon/history.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "common/log.hpp"

namespace smsbridge::api {

namespace {

namespace log = smsbridge::log;

// An answer's size: a backfill fetches a day at the default budget in a few pages, and no
// request makes the daemon build more than this at once.
constexpr std::size_t page_bytes = 1U << 20;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// UNIX seconds with up to three decimals, as milliseconds; nullopt if it is not that.
std::optional<std::int64_t> seconds_parameter(const std::string& text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v) || v < 0 || v > 1e11) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(v * 1000));
}

// A label value in the exposition format: a database may be named with " or \ in it.
std::string label_value(std::string_view v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string postgres_health_text(const postgres_health& h) {
  std::string text =
      "# HELP pg_up Whether the last scrape of metrics from PostgreSQL was able to connect to the server (1 for yes, 0 for no).\n"
      "# TYPE pg_up gauge\n";
  text += fmt::format("pg_up {}\n", h.up ? 1 : 0);
  if (!h.up) return text;
  const auto labels = fmt::format("{{datid=\"{}\",datname=\"{}\"}}", label_value(h.datid), label_value(h.datname));
  const struct {
    const char* name;
    const char* type;
    const char* help;
    double value;
  } figures[] = {
      {"numbackends", "gauge", "Number of backends currently connected to this database.", h.numbackends},
      {"xact_commit", "counter", "Number of transactions in this database that have been committed", h.xact_commit},
      {"xact_rollback", "counter", "Number of transactions in this database that have been rolled back", h.xact_rollback},
      {"blks_read", "counter", "Number of disk blocks read in this database", h.blks_read},
      {"blks_hit", "counter", "Number of times disk blocks were found already in the buffer cache", h.blks_hit},
      {"deadlocks", "counter", "Number of deadlocks detected in this database", h.deadlocks},
  };
  for (const auto& f : figures) {
    text += fmt::format("# HELP pg_stat_database_{0} {1}\n# TYPE pg_stat_database_{0} {2}\npg_stat_database_{0}{3} {4}\n", f.name, f.help,
                        f.type, labels, f.value);
  }
  text += fmt::format(
      "# HELP pg_database_size_bytes Disk space used by the database\n# TYPE pg_database_size_bytes gauge\n"
      "pg_database_size_bytes{{datname=\"{}\"}} {}\n",
      label_value(h.datname), h.size_bytes);
  return text;
}

boost::asio::awaitable<postgres_health> read_postgres_health(database& db) {
  auto step = db.call([](pg::connection& c) -> pg::db_result<postgres_health> {
    auto r = c.exec(
        "SELECT datid::text, datname, numbackends, xact_commit, xact_rollback, deadlocks, blks_hit, blks_read, "
        "pg_database_size(datid) FROM pg_stat_database WHERE datname = current_database()");
    if (!r) return r.error();
    postgres_health h;
    if (r->count() != 1) return h;
    const auto text = [&](int column) { return std::string(r->get(0, column).value_or("")); };
    const auto number = [&](int column) { return std::strtod(text(column).c_str(), nullptr); };
    h.up = true;
    h.datid = text(0);
    h.datname = text(1);
    h.numbackends = number(2);
    h.xact_commit = number(3);
    h.xact_rollback = number(4);
    h.deadlocks = number(5);
    h.blks_hit = number(6);
    h.blks_read = number(7);
    h.size_bytes = number(8);
    return h;
  });
  auto result = co_await std::move(step);
  if (!result) co_return postgres_health{};
  co_return *result;
}

metrics_history::metrics_history(const history_config& config) : config_(config), store_(config.bytes) {
  if (config_.bytes == 0 || config_.file.empty()) return;
  std::string report;
  auto opened = history::history_file::open(config_.file, store_, report);
  if (!opened) {
    log::warning("the metrics history is kept in memory only (it starts empty after each restart): {}", opened.error().message);
    return;
  }
  file_.emplace(std::move(*opened));
  disk_ = std::make_unique<worker>(1);
  log::info("{}", report);
}

fallible<void> metrics_history::persist(const pending_write& w) {
  if (!file_) return {};
  return w.rewrite ? file_->rewrite(store_) : file_->append(w.records);
}

fallible<metrics_history::pending_write> metrics_history::take(std::int64_t t_ms, std::string_view text) {
  auto parsed = history::parse_exposition(text);
  if (!parsed) return fail(fmt::format("the metrics history skipped a tick: /metrics {}", parsed.error().message));
  pending_write w{store_.append(t_ms, *parsed), false};
  // The file keeps ticks the store has let go; once it is well past the store, it is rewritten
  // from the store, so the disk used stays near the budget.
  // After a failed write the file lacks records the store has: only a whole rewrite makes it
  // whole again.
  if (file_ && (file_failing_ || file_->size() + w.records.size() > 2 * store_.bytes() + (1U << 20))) w.rewrite = true;
  return w;
}

fallible<void> metrics_history::record(std::int64_t t_ms, std::string_view text) {
  auto w = take(t_ms, text);
  if (!w) return w.error();
  auto written = persist(*w);
  file_failing_ = !written;
  return written;
}

boost::asio::awaitable<void> metrics_history::run(sample_source source) {
  if (config_.bytes == 0) co_return;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  const auto every = std::chrono::seconds(config_.interval_seconds);
  auto next = std::chrono::steady_clock::now();
  for (;;) {
    auto sampling = source();
    const std::string text = co_await std::move(sampling);
    auto w = take(now_ms(), text);
    if (!w) {
      log::warning("{}", w.error().message);
    } else if (file_ && (!w->records.empty() || w->rewrite)) {
      // The disk thread reads store_ during a rewrite while this loop may serve /metrics/history
      // (both only read it); store_ changes only in take(), which waits for this write.
      auto writing = disk_->run([this, pending = std::move(*w)] { return persist(pending); });
      const auto written = co_await std::move(writing);
      if (!written && !file_failing_) log::warning("{} The history is kept in memory until the file can be written.", written.error().message);
      if (written && file_failing_) log::info("the metrics history file {} is written again.", file_->path());
      file_failing_ = !written;
    }
    // A fixed cadence from the start: a slow tick does not push the later ones back.
    next += every;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;
    timer.expires_at(next);
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

handler history_endpoint(const metrics_history& history) {
  return [&history](const http_request& request, const request_context&) -> boost::asio::awaitable<http_response> {
    if (!history.enabled()) {
      co_return error_response(request, http::status::not_found, "The metrics history is off (SMS_BRIDGE_HISTORY_BYTES=0).");
    }
    std::int64_t since = 0, until = std::numeric_limits<std::int64_t>::max();
    for (const auto& [name, bound] : {std::pair{"since", &since}, std::pair{"until", &until}}) {
      const auto text = query_parameter(request.target(), name);
      if (!text) continue;
      const auto ms = seconds_parameter(*text);
      if (!ms) {
        co_return error_response(request, http::status::bad_request,
                                 fmt::format("{} must be UNIX seconds (decimals allowed), such as 1767225600, not '{}'.", name, *text));
      }
      *bound = *ms;
    }
    if (until <= since) co_return error_response(request, http::status::bad_request, "until must be after since.");
    auto p = history.store().read(since, until, page_bytes);
    http_response r{http::status::ok, request.version()};
    r.set(http::field::content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    if (p.next_ms) r.set("X-History-Next-Since", history::openmetrics_seconds(*p.next_ms));
    if (auto oldest = history.store().oldest_ms()) r.set("X-History-Oldest", history::openmetrics_seconds(*oldest));
    if (auto newest = history.store().newest_ms()) r.set("X-History-Newest", history::openmetrics_seconds(*newest));
    r.keep_alive(request.keep_alive());
    r.body() = std::move(p.text);
    r.prepare_payload();
    co_return r;
  };
}

}  // namespace smsbridge::api
