#include "api-daemon/audit_drain.hpp"

#include <cctype>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "api-daemon/monitoring_context.hpp"
#include "common/log.hpp"

namespace smsbridge::api {

boost::asio::awaitable<void> audit_drain::drain() {
  if (draining_) {
    // The running drain goes round once more; wait for that round, so that the caller's events
    // are in the trail when it resumes.
    again_ = true;
    const std::uint64_t target = passes_ + 2;
    boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor);
    while (draining_ && passes_ < target) {
      wait.expires_after(std::chrono::milliseconds(2));
      co_await wait.async_wait(boost::asio::use_awaitable);
    }
    co_return;
  }
  draining_ = true;
  do {
    again_ = false;
    auto pass = drain_once();
    co_await std::move(pass);
    ++passes_;
  } while (again_);
  draining_ = false;
}

void audit_drain::drain_soon(boost::asio::any_io_executor executor) {
  boost::asio::co_spawn(executor, drain(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      log::error("an audit drain failed: {}", x.what());
    }
  });
}

boost::asio::awaitable<std::optional<std::string>> audit_drain::server_name() {
  if (!address_) co_return std::string();
  auto asking = address_->identity();
  co_return co_await std::move(asking);
}

boost::asio::awaitable<void> audit_drain::drain_once() {
  for (;;) {
    auto asking = helper_.events(batch_size);
    auto answer = co_await std::move(asking);
    if (!answer || answer->events().empty()) co_return;  // an absent helper is reported by /health, not here
    std::vector<v1::Event> events(answer->events().begin(), answer->events().end());
    if (events.front().seq() <= acked_through_) {
      log::error("audit: the firewall helper's event numbers went back (event {} after event {} was acknowledged): the audit "
                 "trail records each number once, so the helper's events with numbers it already holds are missing from "
                 "it. Was the helper's state file replaced by an older one, or the clock set back?",
                 events.front().seq(), acked_through_);
    }
    notification_plan notifications;
    if (settings_) {
      if (auto wanted = settings_->notifications()) {
        notifications = plan_notifications(events, *wanted);
      } else {
        log::warning("audit: the notifications of {} helper event(s) are not sent: {}", events.size(), wanted.error().message);
      }
    }
    auto naming = server_name();
    std::optional<std::string> server = co_await std::move(naming);
    if (!server) {
      log::warning("audit: {} helper event(s) wait: the helper does not say which server this is", events.size());
      co_return;
    }
    auto writing = store_.record(std::move(*server), events, std::move(notifications));
    auto written = co_await std::move(writing);
    if (!written) {
      // Not acknowledged: the helper keeps the events and the next drain retries them.
      log::warning("audit: cannot record {} helper event(s) yet: {}", events.size(), written.error().message);
      co_return;
    }
    for (const auto& e : events) {
      const std::string& id = e.grant().grant_id();
      if (e.kind() == v1::DRIFT_REPAIRED && !id.empty()) {
        if (drift_repaired_.size() >= max_drift_kept && !drift_repaired_.count(id)) drift_repaired_.erase(drift_repaired_.begin());
        drift_repaired_[id] = e.at();
      } else if (e.kind() >= v1::CLOSED && e.kind() <= v1::SHUTDOWN_CLOSED) {
        drift_repaired_.erase(id);
      }
      if (!e.grant().service().empty() && ((e.kind() >= v1::OPENED && e.kind() <= v1::SHUTDOWN_CLOSED) || e.kind() == v1::EXTENDED)) {
        std::string kind = v1::EventKind_Name(e.kind());
        for (auto& ch : kind) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        stats_.door_event(e.grant().service(), kind);
      }
    }
    auto acking = helper_.ack(events.back().seq());
    auto acked = co_await std::move(acking);
    if (acked) acked_through_ = events.back().seq();  // lower after going back: that is logged once, not per batch
    if (!acked || events.size() < batch_size) co_return;
  }
}

const google::protobuf::Timestamp* audit_drain::drift_repaired_at(const std::string& grant_id) const {
  const auto it = drift_repaired_.find(grant_id);
  return it == drift_repaired_.end() ? nullptr : &it->second;
}

boost::asio::awaitable<void> audit_drain::reconcile() {
  // First record whatever the helper still holds, so a live door is never mistaken for an orphan.
  auto draining = drain();
  co_await std::move(draining);
  auto asking = helper_.status();
  const auto status = co_await std::move(asking);
  if (!status || status->pending_events() > 0) co_return;  // not now
  auto listing = all_grants(helper_);
  const auto grants = co_await std::move(listing);
  if (!grants) co_return;
  std::vector<std::string> live;
  for (const auto& g : *grants) live.push_back(g.grant_id());
  auto naming = server_name();
  std::optional<std::string> server = co_await std::move(naming);
  if (!server) co_return;  // not now: the helper answered a moment ago, it will again
  auto closing = store_.close_orphans(std::move(*server), std::move(live));
  const auto closed = co_await std::move(closing);
  if (!closed) log::warning("audit reconcile: {}", closed.error().message);
  else if (*closed > 0) log::notice("audit reconcile: closed {} audit row(s) of doors the helper does not hold", *closed);
}

boost::asio::awaitable<void> run_audit_timer(audit_drain& audit, std::chrono::seconds reconcile_every) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  auto next_reconcile = std::chrono::steady_clock::now();
  for (;;) {
    if (std::chrono::steady_clock::now() >= next_reconcile) {
      auto reconciling = audit.reconcile();
      co_await std::move(reconciling);
      next_reconcile = std::chrono::steady_clock::now() + reconcile_every;
    } else {
      auto draining = audit.drain();
      co_await std::move(draining);
    }
    timer.expires_after(std::chrono::seconds(5));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

}  // namespace smsbridge::api
