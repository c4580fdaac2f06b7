// The audit outbox: the helper's event journal drained into PostgreSQL, acknowledged only after
// the transaction that recorded it committed, so nothing is lost and nothing is recorded twice.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "api-daemon/audit_store.hpp"
#include "api-daemon/firewall_client.hpp"
#include "api-daemon/metrics.hpp"
#include "api-daemon/settings_source.hpp"

namespace smsbridge::api {

class server_address_source;

class audit_drain {
 public:
  audit_drain(firewall_client& helper, audit_store& store, metrics& stats) : helper_(helper), store_(store), stats_(stats) {}

  // Queues the notifications of each recorded batch, under settings.notifications as read from
  // `settings` then (without it, none are queued).
  void notify_with(settings_source& settings) { settings_ = &settings; }

  // Names this server in the trail: its events are recorded, and its doors reconciled, under
  // address.identity() (without it, under no name: a lone server). While the name cannot be
  // known, nothing is recorded or reconciled: the helper keeps its events.
  void identify_with(server_address_source& address) { address_ = &address; }

  // Moves every event the helper holds into the trail, in batches. Safe to call at any time:
  // a call during a drain makes that drain go round once more, and returns once it has finished.
  boost::asio::awaitable<void> drain();

  // Starts a drain without waiting for it (after a door change: the HTTP answer does not wait for
  // the trail, and the audit endpoints drain before they read, so they still show the change).
  void drain_soon(boost::asio::any_io_executor executor);

  // The full reconcile (every SMS_BRIDGE_RECONCILE_INTERVAL_SECONDS): drains, then closes in the
  // trail every door it shows open that the helper does not hold (system-reconcile).
  boost::asio::awaitable<void> reconcile();

  // How many drain passes have finished (for tests and for readers waiting on one).
  std::uint64_t passes() const { return passes_; }

  // When the helper last repaired drift of a live door (a DRIFT_REPAIRED event: the kernel lost
  // the element or its timeout disagreed with the deadline by more than 2 s), by grant id; nullptr
  // if it never did (as far as the drained events tell: within 5 s of the repair). Forgotten when
  // the door closes; at most max_drift_kept doors are remembered.
  const google::protobuf::Timestamp* drift_repaired_at(const std::string& grant_id) const;

  static constexpr std::uint32_t batch_size = 200;
  static constexpr std::size_t max_drift_kept = 1024;

 private:
  boost::asio::awaitable<void> drain_once();
  boost::asio::awaitable<std::optional<std::string>> server_name();

  firewall_client& helper_;
  audit_store& store_;
  metrics& stats_;
  settings_source* settings_ = nullptr;
  server_address_source* address_ = nullptr;
  bool draining_ = false;  // touched on the I/O thread only
  bool again_ = false;
  std::uint64_t passes_ = 0;
  // The last event number the helper acknowledged to us. The helper forgets what it acknowledged,
  // so an event at or below it means its numbering went back: the trail, which records each
  // number once, skips the events whose numbers it already holds. Logged as an error, once per
  // going back (a second line of defence; the helper numbers a fresh journal from the clock).
  std::uint64_t acked_through_ = 0;
  std::map<std::string, google::protobuf::Timestamp> drift_repaired_;
};

// Drains every 5 s (expiries reach the audit trail within 5 s) and reconciles every
// `reconcile_every`, starting with one at start-up. Runs until cancelled.
boost::asio::awaitable<void> run_audit_timer(audit_drain& audit, std::chrono::seconds reconcile_every);

}  // namespace smsbridge::api
