// The helper's core: the privileged verbs (answer_<verb>), expiry, reconciliation and the event
// journal, over injected kernel, host and state interfaces. No sockets, no timers, no signals.
// It logs each event once, where it is decided, through common/log.hpp.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

#include "firewall-helper/config.hpp"
#include "firewall-helper/conntrack.hpp"
#include "firewall-helper/grant_policy.hpp"
#include "firewall-helper/host_probe.hpp"
#include "firewall-helper/latency_histogram.hpp"
#include "firewall-helper/nft_context.hpp"
#include "firewall-helper/reconciler.hpp"
#include "firewall-helper/ruleset.hpp"
#include "firewall-helper/state_store.hpp"
#include "firewall.pb.h"
#include "state.pb.h"

namespace smsbridge::firewall {

// Who is on the other end of the socket, from SO_PEERCRED.
struct peer_identity {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
};

// Where a test build's helper kills itself in the middle of an Open, to prove that start-up
// recovers from each half of it alone (tests/integration/helper_ns_test.py, "crash_open_*").
enum class open_crash_point {
  none,             // the shipped helper
  journal_written,  // the records are durable, the kernel was not changed
  kernel_changed,   // the kernel has the door, nothing was written
};
struct open_crash {
  open_crash_point at;
  std::function<void()> crash;  // must not return (SIGKILL)
};

struct service_deps {
  nft_runner& nft;
  flow_cutter& cutter;
  host_probe& probe;
  state_store& store;
  std::function<std::int64_t()> now_ms;            // wall clock, ms since the epoch (UTC)
  std::function<std::string()> new_grant_id;       // unique, unguessable
  // A monotonic clock, ms: every remaining time (expiry, re-applied grants) is computed from it,
  // so a step of the wall clock can neither shorten nor lengthen a door.
  std::function<std::int64_t()> steady_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  // Set only by sms-bridge-firewall-helper-faults, a test build: it orders the two halves of an
  // Open (which otherwise run at once) and crashes between them.
  std::optional<open_crash> crash_open = std::nullopt;
};

using answer = boost::system::result<void, refusal>;

// The first event number of a journal begun afresh (no state file, or a corrupt one kept aside):
// the wall clock in microseconds since the epoch. The api-daemon's audit trail records each
// helper event number once and skips a number it already holds, so a fresh journal must number
// above every number an earlier journal on this machine (or the one restored from) gave. An
// earlier journal began at its own start time and gives far fewer than one number per
// microsecond, so its numbers stay below the clock of any later start -- unless the clock went
// back meanwhile, which this cannot detect (the api-daemon logs an error when numbers go back).
// About 1.8e15 today: within a signed 64-bit BIGINT and below 2^53, so JSON readers keep it exact.
std::uint64_t fresh_journal_seq(std::int64_t now_ms);

class firewall_service {
 public:
  firewall_service(const helper_config& config, service_deps deps);

  // Loads the state (fail-closed on corruption), turns grants whose deadline passed into
  // EXPIRED_WHILE_DOWN events, and installs the table with every surviving grant in one batch.
  // Fails with a sentence if the kernel refuses the table or the state cannot be written.
  fallible<void> start();

  // Answers one request; never throws for anything a client can send.
  v1::Response handle(const v1::Request& request, const peer_identity& peer);

  // Whether a peer may talk to the helper at all (allowed uids/gids, or the helper's own uid).
  bool peer_allowed(const peer_identity& peer) const;

  // The earliest grant deadline on deps.steady_ms's clock (std::chrono::steady_clock in the
  // daemon), for the single expiry timer; nullopt when no grant is live.
  std::optional<std::int64_t> next_deadline_ms() const;

  // Closes every grant whose deadline has passed (EXPIRED events).
  void expire_due();

  // Compares the kernel with the state and repairs or reports drift (DESIGN.md §4.4): lists the
  // table, lets plan_reconcile decide, and carries its plan out.
  void reconcile();

  // SIGTERM: closes every grant (on_shutdown = close) or leaves them to their kernel timeouts
  // (keep), then writes a final snapshot.
  void shutdown();

  // SIGHUP, after the caller replaced the config this service reads with a reloaded one that
  // reload_refusal() accepted. Closes each live door the new config would not open, or whose
  // service now forwards elsewhere (CLOSED events, actor "system", the reason in their detail),
  // keeps the others with their deadlines, and re-installs the table when its skeleton (the
  // masquerade targets) changed. Returns how many doors it closed.
  std::size_t revalidate_doors(bool skeleton_changed);

  // True once after a kernel change failed, so the caller runs reconcile() soon.
  bool take_reconcile_request() { return std::exchange(reconcile_wanted_, false); }

  std::size_t live_grants() const { return grants_.size(); }
  void count_connection() { ++counters_.connections; }
  void count_refused_connection() { ++counters_.connections_refused; }
  void count_bad_frame() { ++counters_.bad_frames; }

  static v1::Response error_response(std::uint64_t request_id, v1::ErrorCode code, std::string message);

 private:
  // A live door, kept compact (no protobuf strings or submessages): 10,000 of them must stay
  // within a few megabytes. Its protocol form is built on demand.
  struct live_grant {
    std::string grant_id;
    std::string service;
    grant_rule rule;
    std::int64_t opened_ms = 0;
    std::int64_t expires_ms = 0;         // wall clock: for people and the state file
    std::int64_t deadline_steady_ms = 0;  // the same moment on the monotonic clock: what counts
    std::string opened_by;
    std::string reason;  // the open's reason ("" if none)

    v1::Grant to_proto() const;
    static boost::system::result<live_grant, failure> from_proto(const v1::Grant& g, const service_config& svc);
  };

  // The privileged surface: one handler per verb, all named answer_<verb>.
  answer answer_open(const v1::Request& request, const peer_identity& peer, v1::Response& response);
  answer answer_close(const v1::Request& request, const peer_identity& peer, v1::Response& response);
  answer answer_close_all(const v1::Request& request, const peer_identity& peer, v1::Response& response);
  answer answer_list(const v1::Request& request, const peer_identity& peer, v1::Response& response);
  answer answer_status(const v1::Request& request, const peer_identity& peer, v1::Response& response);
  answer answer_check_ports(const v1::Request& request, const peer_identity& peer, v1::Response& response);
  answer answer_scan_ports(const v1::Request& request, const peer_identity& peer, v1::Response& response);
  answer answer_events(const v1::Request& request, const peer_identity& peer, v1::Response& response);
  answer answer_ack(const v1::Request& request, const peer_identity& peer, v1::Response& response);
  answer answer_extend(const v1::Request& request, const peer_identity& peer, v1::Response& response);
  answer answer_open_many(const v1::Request& request, const peer_identity& peer, v1::Response& response);

  using answer_fn = answer (firewall_service::*)(const v1::Request&, const peer_identity&, v1::Response&);
  struct dispatch_entry {
    v1::Request::VerbCase verb;
    const char* name;
    answer_fn fn;
  };
  static const dispatch_entry dispatch_table[];

  // Why a port is not free, or nullopt if it is.
  std::optional<std::string> port_unavailable(std::uint32_t port, std::string_view for_service);
  // Judges one door of an Open (or an open-many, with `planned` doors of it ahead) and fills `g`.
  answer prepare_open(const v1::OpenRequest& open, const peer_identity& peer, std::size_t planned, live_grant& g);
  // Opens the prepared doors together (one batch, one journal write) and fills `records` with
  // their grants, in order; on a refusal none opened.
  answer open_together(std::vector<live_grant>& doors, std::vector<v1::Grant>& records);
  // Both halves at once: the nft batch on this thread, the journal append (each grant and its
  // OPENED event, numbered here) on the store's disk thread. An attempt that fails leaves neither
  // half behind: the kernel elements are removed, or the records voided.
  enum class open_outcome { done, kernel_refused, journal_failed };
  open_outcome open_both_halves(const std::vector<live_grant>& doors, const std::vector<v1::Grant>& grants, const std::string& batch,
                                std::string& kernel_error);
  static std::string names_of(const std::vector<live_grant>& doors);  // "'a', 'b'", for sentences
  answer close_grant(const std::string& service, v1::EventKind kind, std::string_view actor, std::string_view reason,
                     v1::Grant* closed = nullptr, std::string_view detail = {});
  void remove_from_kernel(const live_grant& g);
  // Replaces a live door's set element by one with `timeout`, in one batch (delete + add): the
  // door never closes in between and the new timeout holds even if the helper dies right after.
  fallible<std::string> renew_element(const live_grant& g, std::chrono::milliseconds timeout);
  // Moves a live door's deadline (both clocks), keeping the expiry timer's index in step.
  void move_deadline(const std::string& service, std::int64_t expires_ms, std::int64_t deadline_steady_ms);
  // Carries out the reconciler's timeout repairs: each drifted element is renewed with the time
  // its door has left. Returns the remaining time set per service (what List then reports).
  std::map<std::string, std::int64_t> repair_timeouts(const std::vector<drifted_timeout>& drifted, std::vector<v1::Event>& events);
  // Appends records durably; on failure logs one error naming `what` and refuses STATE_WRITE_FAILED.
  answer persist(const std::vector<state::JournalRecord>& records, std::string_view what);
  v1::Event make_event(v1::EventKind kind, const v1::Grant* grant, std::string_view actor, std::string_view reason,
                       std::string_view detail, std::uint64_t seq) const;
  // Appends events (with their journal records) durably; logs if the state cannot be written.
  void record_events(std::vector<v1::Event> events);
  void insert_live(live_grant g);
  void erase_live(const std::string& service);
  std::vector<std::pair<grant_rule, std::chrono::milliseconds>> surviving_rules() const;
  state_store::snapshot_source snapshot() const;
  void maybe_compact();
  // Re-renders the whole table after the reconciler found it missing or damaged, first closing
  // `doors_to_close` (on_drift = report).
  void rebuild_table(std::string_view why, const std::vector<std::string>& doors_to_close);
  std::vector<held_grant> held_grants() const;
  // Every batch goes through here, so Status can report how long libnftables takes.
  fallible<std::string> run_nft(std::string_view batch, nft_output output = nft_output::text);

  const helper_config& config_;
  service_deps deps_;
  std::map<std::string, live_grant> grants_;                   // by service
  std::set<std::pair<std::int64_t, std::string>> deadlines_;   // (deadline_steady_ms, service)
  std::map<std::uint16_t, std::string> port_owner_;            // external port -> service
  std::deque<v1::Event> events_;                               // unacknowledged, by seq
  std::uint64_t next_seq_ = 1;
  struct counters {
    std::uint64_t opens = 0, closes = 0, expiries = 0, refusals = 0, drift_repairs = 0, nft_failures = 0,
                  connections = 0, connections_refused = 0, bad_frames = 0;
  } counters_;
  latency_histogram nft_latency_;
  bool started_fail_closed_ = false;
  bool reconcile_wanted_ = false;
  std::int64_t started_at_ms_ = 0;
  // The table as the last List read it, checked for drift then, and when (steady ms). A List within
  // list_view_max_age_ms of it answers from it, its timeouts less the time since: listing the table
  // costs milliseconds, and the admin UI and API ask for the doors far more often than they change.
  // Every kernel change this helper makes forgets it (run_nft).
  std::optional<kernel_view> list_view_;
  std::int64_t list_view_at_ms_ = 0;

 public:
  static constexpr std::int64_t list_view_max_age_ms = 1000;
};

}  // namespace smsbridge::firewall
