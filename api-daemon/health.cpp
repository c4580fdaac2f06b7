#include "api-daemon/health.hpp"

#include <ctime>
#include <map>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

namespace smsbridge::api {

boost::asio::awaitable<void> health_monitor::refresh() {
  if (checked_ && std::chrono::steady_clock::now() - checked_at_ < std::chrono::seconds(1)) co_return;
  if (checking_) {
    boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor);
    while (checking_) {
      wait.expires_after(std::chrono::milliseconds(2));
      co_await wait.async_wait(boost::asio::use_awaitable);
    }
    co_return;
  }
  checking_ = true;
  auto asking_db = outbox_.sync_state();
  const auto db = co_await std::move(asking_db);
  auto asking_helper = helper_.status();
  auto helper = co_await std::move(asking_helper);
  database_up_ = db.has_value();
  backend_sync_ = db ? *db : "unknown";
  helper_up_ = helper.has_value();
  helper_status_ = helper ? std::move(*helper) : v1::StatusResult{};
  checked_ = true;
  checked_at_ = std::chrono::steady_clock::now();
  checking_ = false;
}

std::string status_line(bool database_up, bool helper_up, unsigned doors_open) {
  std::string line = fmt::format("database {}, firewall helper {}", database_up ? "up" : "down", helper_up ? "up" : "down");
  if (helper_up) line.append(fmt::format(", {} door{} open", doors_open, doors_open == 1 ? "" : "s"));
  return line;
}

boost::asio::awaitable<void> report_status(health_monitor& health, service_state& manager, std::chrono::steady_clock::duration every) {
  boost::asio::steady_timer pause(co_await boost::asio::this_coro::executor);
  for (;;) {
    auto refreshing = health.refresh();
    co_await std::move(refreshing);
    manager.status(status_line(health.database_up(), health.helper_up(), health.helper_up() ? health.helper_status().live_grants() : 0));
    pause.expires_after(every);
    auto pausing = pause.async_wait(boost::asio::use_awaitable);
    co_await std::move(pausing);
  }
}

std::string health_body(bool database_up, bool helper_up, std::string_view backend_sync, std::time_t now) {
  // unhealthy (503): no database, so neither API can work; degraded (200): the helper or the
  // backend is away, which must not take the public API offline.
  const char* status = !database_up ? "unhealthy" : (!helper_up || backend_sync != "ok") ? "degraded" : "healthy";
  const boost::json::object body{{"status", status},
                                 {"checks", boost::json::object{{"database", database_up ? "up" : "down"},
                                                                {"firewall_helper", helper_up ? "up" : "down"},
                                                                {"backend_sync", backend_sync}}},
                                 {"database", database_up ? "up" : "down"},
                                 {"firewall_helper", helper_up ? "up" : "down"},
                                 {"version", SMS_BRIDGE_VERSION},
                                 {"timestamp", fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(now))}};
  return boost::json::serialize(body);
}

handler health_endpoint(health_monitor& health, std::function<std::time_t()> wall_now) {
  // The body changes at most once a second (its timestamp, and the checks, refreshed at most that
  // often): it is kept and served again until then, rather than built and serialized for every
  // probe (a load balancer's or a benchmark's).
  struct kept {
    std::time_t second = -1;
    bool database_up = false, helper_up = false;
    std::string backend_sync, body;
  };
  return [&health, wall_now = std::move(wall_now), last = std::make_shared<kept>()](
             const http_request& request, const request_context&) -> boost::asio::awaitable<http_response> {
    auto refreshing = health.refresh();
    co_await std::move(refreshing);
    const bool db_up = health.database_up(), helper_up = health.helper_up();
    const std::time_t now = wall_now();
    if (last->second != now || last->database_up != db_up || last->helper_up != helper_up || last->backend_sync != health.backend_sync()) {
      *last = kept{now, db_up, helper_up, health.backend_sync(), health_body(db_up, helper_up, health.backend_sync(), now)};
    }
    co_return json_response(request, db_up ? http::status::ok : http::status::service_unavailable, last->body);
  };
}

boost::asio::awaitable<std::string> metrics_text(health_monitor& health, firewall_client& helper, sms_store* sms, metrics& stats) {
  // /health's checks, shared (at most once a second): the helper's status and the database,
  // rather than a round trip of their own per scrape.
  auto refreshing = health.refresh();
  co_await std::move(refreshing);
  stats.set_helper_up(health.helper_up());
  if (health.helper_up()) {
    const auto& status = health.helper_status();
    stats.set_audit_backlog(status.pending_events());
    std::map<std::string, int> per_service;
    for (const auto& s : status.services()) per_service[s] = 0;
    auto listing = all_grants(helper);
    if (const auto grants = co_await std::move(listing)) {
      for (const auto& g : *grants) ++per_service[g.service()];
    }
    stats.set_open_doors(per_service);
  }
  stats.set_database_up(health.database_up());
  if (sms) {
    auto counting = sms->gauges();
    if (const auto g = co_await std::move(counting)) stats.set_sms_gauges(g->outbox_pending, g->active_codes, g->blacklist_size);
  }
  std::string text = stats.render();
  if (health.helper_up()) text += helper_metrics_text(health.helper_status());
  co_return text;
}

handler metrics_endpoint(health_monitor& health, firewall_client& helper, sms_store* sms, metrics& stats) {
  return [&health, &helper, sms, &stats](const http_request& request, const request_context&) -> boost::asio::awaitable<http_response> {
    auto text = metrics_text(health, helper, sms, stats);
    http_response r{http::status::ok, request.version()};
    r.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    r.keep_alive(request.keep_alive());
    r.body() = co_await std::move(text);
    r.prepare_payload();
    co_return r;
  };
}

}  // namespace smsbridge::api
