// In-memory stand-ins for the api-daemon's process edges (the firewall helper, PostgreSQL, the
// backend), so that every handler and loop runs in a unit test. Each records what it was asked
// and has switches for the failures the real ones have.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/steady_timer.hpp>
#include <google/protobuf/util/time_util.h>

#include "api-daemon/admin_store.hpp"
#include "api-daemon/audit_store.hpp"
#include "api-daemon/backend_client.hpp"
#include "api-daemon/firewall_client.hpp"
#include "api-daemon/http_router.hpp"
#include "api-daemon/notification_outbox.hpp"
#include "api-daemon/outbox.hpp"
#include "api-daemon/sms_store.hpp"

namespace smsbridge::api::testing {

using google::protobuf::util::TimeUtil;

// Runs a coroutine to completion on a fresh io_context and returns its result.
template <class T>
T run(boost::asio::awaitable<T> work) {
  boost::asio::io_context io;
  auto done = boost::asio::co_spawn(io, std::move(work), boost::asio::use_future);
  io.run();
  return done.get();
}
inline void run(boost::asio::awaitable<void> work) {
  boost::asio::io_context io;
  auto done = boost::asio::co_spawn(io, std::move(work), boost::asio::use_future);
  io.run();
  done.get();
}

// One request through a route table, as the HTTP server would run it.
inline http_response call(const router& routes, http::verb verb, std::string target, std::string body = {},
                          std::vector<std::pair<std::string, std::string>> headers = {}, std::string peer = "198.51.100.7") {
  http_request request{verb, target, 11};
  for (auto& [k, v] : headers) request.set(k, v);
  request.body() = std::move(body);
  request.prepare_payload();
  const request_context context{std::move(peer)};
  const auto m = routes.find(verb, target);
  if (!m.found) return http_response{m.path_known ? http::status::method_not_allowed : http::status::not_found, 11};
  return run((*m.found)(request, context));
}

inline pg::db_error db_down() { return pg::db_error{pg::error_kind::connection, "", "connection refused"}; }

// ---- the firewall helper -------------------------------------------------------------------

class fake_firewall final : public firewall_client {
 public:
  bool down = false;                      // every call: unreachable
  std::optional<refusal> refuse_next;     // the next call only
  std::set<std::string> unreachable_verbs;  // these verbs only: unreachable
  std::vector<std::string> services{"metrics", "postgres"};
  std::map<std::string, v1::Grant> doors;  // by service
  std::vector<v1::Event> journal;          // not yet acknowledged
  std::uint64_t next_seq = 1;
  std::string host_address = "203.0.113.10";
  v1::Counters counters;               // what status() reports as the helper's counters
  v1::Histogram nft_batch_seconds;     // and as its nft batch latencies
  std::vector<std::string> calls;          // verbs, in order
  std::map<std::uint32_t, std::string> busy_ports;  // port -> why not free
  // What list() reports as the kernel's remaining timeout: the state's deadline plus this skew
  // (ms), or nothing (the helper did not read the kernel) when unset.
  std::optional<std::int64_t> kernel_skew_ms = 0;
  std::uint32_t min_duration = 60, max_duration = 86400;  // the helper's own bounds
  std::chrono::milliseconds list_delay{0};  // list() answers after this long, reading the doors then

  boost::asio::awaitable<helper_result<v1::Grant>> open(open_request o) override {
    if (auto r = gate("open")) co_return *r;
    co_return open_door(std::move(o));
  }
  boost::asio::awaitable<helper_result<std::vector<helper_result<v1::Grant>>>> open_many(std::vector<open_request> asked) override {
    if (auto r = gate("open-many")) co_return *r;
    std::vector<helper_result<v1::Grant>> out;
    for (auto& o : asked) out.push_back(open_door(std::move(o)));
    co_return out;
  }
  helper_result<v1::Grant> open_door(open_request o) {
    if (std::find(services.begin(), services.end(), o.service) == services.end()) {
      return refusal{v1::UNKNOWN_SERVICE, "The helper has no service '" + o.service + "'.", false};
    }
    if (doors.count(o.service)) return refusal{v1::ALREADY_OPEN, "'" + o.service + "' is already open.", false};
    v1::Grant g;
    g.set_grant_id(std::string(32, static_cast<char>('a' + doors.size())));
    g.set_service(o.service);
    g.set_external_port(o.external_port);
    g.set_target("172.30.57.10:5432");
    g.set_source(o.source);
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    *g.mutable_opened_at() = TimeUtil::SecondsToTimestamp(now);
    *g.mutable_expires_at() = TimeUtil::SecondsToTimestamp(now + o.duration_seconds);
    g.set_opened_by(o.actor);
    g.set_reason(o.reason);
    doors[o.service] = g;
    record(v1::OPENED, g, o.actor, o.reason);
    return g;
  }
  boost::asio::awaitable<helper_result<v1::ExtendResult>> extend(extend_request e) override {
    if (auto r = gate("extend")) co_return *r;
    auto it = doors.find(e.service);
    if (it == doors.end()) co_return refusal{v1::NOT_OPEN, "'" + e.service + "' is not open.", false};
    if (e.duration_seconds < min_duration || e.duration_seconds > max_duration) {
      co_return refusal{v1::DURATION_OUT_OF_RANGE, "The duration is outside the helper's bounds.", false};
    }
    v1::ExtendResult out;
    *out.mutable_previous_expires_at() = it->second.expires_at();
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    *it->second.mutable_expires_at() = TimeUtil::SecondsToTimestamp(now + e.duration_seconds);
    *out.mutable_grant() = it->second;
    v1::Event& ev = record(v1::EXTENDED, it->second, e.actor, e.reason);
    *ev.mutable_previous_expires_at() = out.previous_expires_at();
    co_return out;
  }
  boost::asio::awaitable<helper_result<v1::Grant>> close(std::string service, std::string actor, std::string reason) override {
    if (auto r = gate("close")) co_return *r;
    auto it = doors.find(service);
    if (it == doors.end()) co_return refusal{v1::NOT_OPEN, "'" + service + "' is not open.", false};
    v1::Grant g = it->second;
    doors.erase(it);
    record(v1::CLOSED, g, actor, reason);
    co_return g;
  }
  boost::asio::awaitable<helper_result<v1::CloseAllResult>> close_all(std::string actor, std::string reason) override {
    if (auto r = gate("close_all")) co_return *r;
    v1::CloseAllResult out;
    for (auto& [name, g] : doors) {
      *out.add_closed() = g;
      record(v1::CLOSED, g, actor, reason);
    }
    out.set_closed_count(static_cast<std::uint32_t>(doors.size()));
    doors.clear();
    co_return out;
  }
  boost::asio::awaitable<helper_result<v1::ListResult>> list(std::string) override {
    if (auto r = gate("list")) co_return *r;
    if (list_delay.count() > 0) {
      boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor, list_delay);
      co_await wait.async_wait(boost::asio::use_awaitable);
    }
    v1::ListResult out;
    *out.mutable_now() = TimeUtil::GetCurrentTime();
    for (auto& [name, g] : doors) {
      auto* listed = out.add_grants();
      *listed = g;
      if (kernel_skew_ms) {
        const auto left = TimeUtil::TimestampToMilliseconds(g.expires_at()) - TimeUtil::TimestampToMilliseconds(out.now()) + *kernel_skew_ms;
        listed->set_kernel_expires_in_ms(static_cast<std::uint64_t>(std::max<std::int64_t>(0, left)));
      }
    }
    out.set_total(static_cast<std::uint32_t>(doors.size()));
    co_return out;
  }
  boost::asio::awaitable<helper_result<v1::StatusResult>> status() override {
    if (auto r = gate("status")) co_return *r;
    v1::StatusResult out;
    for (const auto& s : services) out.add_services(s);
    out.set_live_grants(static_cast<std::uint32_t>(doors.size()));
    out.set_pending_events(static_cast<std::uint32_t>(journal.size()));
    out.set_host_address(host_address);
    *out.mutable_counters() = counters;
    *out.mutable_nft_batch_seconds() = nft_batch_seconds;
    co_return out;
  }
  boost::asio::awaitable<helper_result<v1::PortsResult>> check_ports(std::vector<std::uint32_t> ports) override {
    if (auto r = gate("check_ports")) co_return *r;
    v1::PortsResult out;
    for (auto p : ports) {
      auto* s = out.add_ports();
      s->set_port(p);
      s->set_free(!busy_ports.count(p));
      if (busy_ports.count(p)) s->set_reason(busy_ports[p]);
    }
    co_return out;
  }
  boost::asio::awaitable<helper_result<v1::PortsResult>> scan_ports(std::uint32_t start, std::uint32_t end, std::uint32_t count) override {
    if (auto r = gate("scan_ports")) co_return *r;
    v1::PortsResult out;
    for (std::uint32_t p = start; p <= end && static_cast<std::uint32_t>(out.ports_size()) < count; ++p) {
      if (busy_ports.count(p)) continue;
      auto* s = out.add_ports();
      s->set_port(p);
      s->set_free(true);
    }
    co_return out;
  }
  boost::asio::awaitable<helper_result<v1::EventsResult>> events(std::uint32_t max) override {
    if (auto r = gate("events")) co_return *r;
    v1::EventsResult out;
    for (std::size_t i = 0; i < journal.size() && i < max; ++i) *out.add_events() = journal[i];
    out.set_next_seq(next_seq);
    co_return out;
  }
  boost::asio::awaitable<helper_result<v1::AckResult>> ack(std::uint64_t seq) override {
    if (auto r = gate("ack")) co_return *r;
    std::erase_if(journal, [seq](const v1::Event& e) { return e.seq() <= seq; });
    v1::AckResult out;
    out.set_acked_through(seq);
    out.set_pending_events(static_cast<std::uint32_t>(journal.size()));
    co_return out;
  }

  v1::Event& record(v1::EventKind kind, const v1::Grant& g, const std::string& actor, const std::string& reason) {
    v1::Event e;
    e.set_seq(next_seq++);
    e.set_kind(kind);
    *e.mutable_at() = TimeUtil::GetCurrentTime();
    *e.mutable_grant() = g;
    e.set_actor(actor);
    e.set_reason(reason);
    journal.push_back(e);
    return journal.back();
  }

 private:
  std::optional<refusal> gate(const char* verb) {
    calls.emplace_back(verb);
    if (down || unreachable_verbs.count(verb)) return unreachable_refusal("the fake helper is down.");
    if (refuse_next) return std::exchange(refuse_next, std::nullopt);
    return std::nullopt;
  }
};

// ---- PostgreSQL ------------------------------------------------------------------------------

class fake_admin_store final : public admin_store {
 public:
  bool down = false;
  std::map<std::string, admin_record> admins;
  std::map<std::string, session_record> sessions;  // by token
  std::vector<std::string> events;                 // "name source method outcome"
  std::vector<std::string> announced;              // each event's announce ("" when none), in the same order
  int admin_lookups = 0, session_lookups = 0;      // queries that reached the "database"
  std::function<void()> during_lookup;             // runs inside a lookup, before its answer

  boost::asio::awaitable<pg::db_result<std::optional<admin_record>>> find_admin(std::string name) override {
    if (down) co_return db_down();
    ++admin_lookups;
    auto it = admins.find(name);
    auto read = it == admins.end() ? std::optional<admin_record>{} : std::optional<admin_record>{it->second};
    if (during_lookup) during_lookup();  // a change after the row was read
    co_return read;
  }
  boost::asio::awaitable<pg::db_result<void>> record_auth_event(std::string name, std::string source, std::string method,
                                                               std::string outcome, std::string announce) override {
    if (down) co_return db_down();
    events.push_back(name + " " + source + " " + method + " " + outcome);
    announced.push_back(std::move(announce));
    co_return pg::db_result<void>{};
  }
  boost::asio::awaitable<pg::db_result<new_session>> create_session(std::string name, std::int32_t, bool otp_verified) override {
    if (down) co_return db_down();
    const std::string token = "token-" + std::to_string(sessions.size() + 1);
    sessions[token] = session_record{name, "csrf-" + token, admins[name].totp_sealed_secret.has_value(),
                                     otp_verified ? std::optional<std::int64_t>{0} : std::nullopt, session_lifetime_seconds};
    co_return new_session{token, "csrf-" + token, "2026-12-01T20:00:00Z"};
  }
  boost::asio::awaitable<pg::db_result<std::optional<session_record>>> find_session(std::string token) override {
    if (down) co_return db_down();
    ++session_lookups;
    auto it = sessions.find(token);
    auto read = it == sessions.end() ? std::optional<session_record>{} : std::optional<session_record>{it->second};
    if (during_lookup) during_lookup();
    co_return read;
  }
  boost::asio::awaitable<pg::db_result<void>> delete_session(std::string token) override {
    if (down) co_return db_down();
    sessions.erase(token);
    co_return pg::db_result<void>{};
  }
  boost::asio::awaitable<pg::db_result<void>> mark_session_otp(std::string token) override {
    if (down) co_return db_down();
    if (auto it = sessions.find(token); it != sessions.end()) it->second.otp_age_seconds = 0;
    co_return pg::db_result<void>{};
  }
  // The replay guard and recovery codes as PostgreSQL keeps them (admin_totp.cpp).
  std::map<std::string, std::vector<std::string>> recovery_hashes;  // unused, by admin
  boost::asio::awaitable<pg::db_result<bool>> accept_totp_step(std::string name, std::int64_t step) override {
    if (down) co_return db_down();
    auto& a = admins[name];
    if (a.totp_last_step && *a.totp_last_step >= step) co_return false;
    a.totp_last_step = step;
    co_return true;
  }
  boost::asio::awaitable<pg::db_result<bool>> spend_recovery_code(std::string name, std::string code_hash) override {
    if (down) co_return db_down();
    auto& unused = recovery_hashes[name];
    const auto it = std::find(unused.begin(), unused.end(), code_hash);
    if (it == unused.end()) co_return false;
    unused.erase(it);
    co_return true;
  }
};

class fake_audit_store final : public audit_store {
 public:
  bool down = false;
  std::vector<firewall::v1::Event> recorded;
  std::vector<std::string> open_in_trail;  // grant ids the trail shows open
  std::vector<std::string> closed_orphans;
  std::string history = "[]", actions = "[]";
  std::vector<audit_filter> asked;
  notification_plan notifications;  // every plan recorded, in order

  std::vector<std::string> servers;  // the server each record and reconcile was made under, in order

  boost::asio::awaitable<pg::db_result<void>> record(std::string server, std::vector<firewall::v1::Event> events,
                                                     notification_plan plan) override {
    if (down) co_return db_down();
    servers.push_back(std::move(server));
    notifications.insert(notifications.end(), plan.begin(), plan.end());
    for (auto& e : events) {
      if (std::any_of(recorded.begin(), recorded.end(), [&](const auto& r) { return r.seq() == e.seq(); })) continue;
      recorded.push_back(e);
      if (e.kind() == firewall::v1::OPENED) open_in_trail.push_back(e.grant().grant_id());
      if (e.kind() == firewall::v1::CLOSED || e.kind() == firewall::v1::EXPIRED) std::erase(open_in_trail, e.grant().grant_id());
    }
    co_return pg::db_result<void>{};
  }
  boost::asio::awaitable<pg::db_result<int>> close_orphans(std::string server, std::vector<std::string> live) override {
    if (down) co_return db_down();
    servers.push_back(std::move(server));
    int n = 0;
    for (auto it = open_in_trail.begin(); it != open_in_trail.end();) {
      if (std::find(live.begin(), live.end(), *it) == live.end()) {
        closed_orphans.push_back(*it);
        it = open_in_trail.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    co_return n;
  }
  boost::asio::awaitable<pg::db_result<std::string>> history_json(audit_filter f) override {
    if (down) co_return db_down();
    asked.push_back(f);
    co_return history;
  }
  boost::asio::awaitable<pg::db_result<std::string>> actions_json(audit_filter f, std::optional<std::string>) override {
    if (down) co_return db_down();
    asked.push_back(f);
    co_return actions;
  }
};

class fake_outbox_store final : public outbox_store {
 public:
  bool down = false;
  std::vector<outbox_item> pending;
  std::vector<std::string> delivered_ids, failed_ids, errors;
  std::string state = "ok";
  std::vector<std::uint32_t> wipes;

  boost::asio::awaitable<pg::db_result<std::optional<outbox_item>>> next_item() override {
    if (down) co_return db_down();
    if (pending.empty()) co_return std::optional<outbox_item>{};
    co_return std::optional<outbox_item>{pending.front()};
  }
  boost::asio::awaitable<pg::db_result<void>> delivered(std::string id) override {
    if (down) co_return db_down();
    delivered_ids.push_back(id);
    std::erase_if(pending, [&](const outbox_item& i) { return i.id == id; });
    co_return pg::db_result<void>{};
  }
  boost::asio::awaitable<pg::db_result<void>> attempt_failed(std::string id, std::string error, int, std::chrono::seconds) override {
    if (down) co_return db_down();
    failed_ids.push_back(id);
    errors.push_back(error);
    co_return pg::db_result<void>{};
  }
  boost::asio::awaitable<pg::db_result<void>> wipe_pins_older_than(std::uint32_t seconds) override {
    if (down) co_return db_down();
    wipes.push_back(seconds);
    co_return pg::db_result<void>{};
  }
  boost::asio::awaitable<pg::db_result<std::string>> sync_state() override {
    if (down) co_return db_down();
    co_return state;
  }
};

// The SMS tables in memory: codes, verified numbers, the blacklist, the outbox and the log.
class fake_sms_tables final : public sms_tables {
 public:
  bool down = false;
  struct code_row {
    std::string mobile, code;
    bool consumed = false, expired = false;
  };
  std::vector<code_row> codes;
  std::map<std::string, std::string> verified;  // mobile -> hash, while its PIN is not set
  std::vector<std::string> blacklist;
  std::vector<std::pair<std::string, std::string>> outbox;  // mobile, sealed pin
  std::vector<sms_log_entry> logged;

  pg::db_result<bool> blacklisted(const std::string& mobile) override {
    if (down) return db_down();
    return std::find(blacklist.begin(), blacklist.end(), mobile) != blacklist.end();
  }
  pg::db_result<std::int64_t> codes_issued_within(const std::string& mobile, std::int64_t) override {
    if (down) return db_down();
    return static_cast<std::int64_t>(std::count_if(codes.begin(), codes.end(), [&](const code_row& c) { return c.mobile == mobile; }));
  }
  pg::db_result<issued_code> issue_code(const std::string& mobile, const std::string& code, const std::optional<std::string>&,
                                        const std::optional<std::string>&, std::int64_t, std::int64_t) override {
    if (down) return db_down();
    if (std::any_of(codes.begin(), codes.end(), [&](const code_row& c) { return c.code == code; })) {
      return pg::db_error{pg::error_kind::unique_violation, "23505", "duplicate key"};
    }
    codes.push_back({mobile, code});
    return issued_code{"2026-12-01T12:00:00Z", "2026-12-01T12:15:00Z"};
  }
  pg::db_result<std::int64_t> messages_within(const std::string& mobile, std::int64_t) override {
    if (down) return db_down();
    return static_cast<std::int64_t>(std::count_if(logged.begin(), logged.end(), [&](const sms_log_entry& e) {
      return e.event == "receive" && e.mobile == mobile;
    }));
  }
  pg::db_result<std::optional<std::string>> consume_code(const std::string& code, const std::string& mobile,
                                                         const std::string& message_id) override {
    if (down) return db_down();
    for (auto& c : codes) {
      if (c.code != code) continue;
      if (c.mobile != mobile) return std::optional<std::string>("sent from another number");
      if (c.consumed) return std::optional<std::string>("code already used");
      if (c.expired) return std::optional<std::string>("code expired");
      c.consumed = true;
      verified[mobile] = code;
      logged.push_back({"receive", "received", mobile, message_id, "verified"});
      return std::optional<std::string>{};
    }
    return std::optional<std::string>("unknown code");
  }
  pg::db_result<bool> queue_account(const std::string& mobile, const std::string& hash, const std::string& sealed_pin) override {
    if (down) return db_down();
    auto it = verified.find(mobile);
    if (it == verified.end() || it->second != hash) return false;
    verified.erase(it);
    outbox.emplace_back(mobile, sealed_pin);
    logged.push_back({"pin_setup", "success", mobile, "", "queued for delivery"});
    return true;
  }
  void log(const sms_log_entry& entry) override { logged.push_back(entry); }
};

// sms_store over fake_sms_tables: the same decisions (sms_core) the PostgreSQL store runs.
class fake_sms_store final : public sms_store {
 public:
  fake_sms_tables tables;
  std::string secret = "0123456789abcdef0123";
  std::map<std::string, std::string> blacklist_reasons;
  std::int64_t failed_items = 0;

  boost::asio::awaitable<pg::db_result<register_outcome>> register_number(sms_settings s, register_request r) override {
    if (tables.down) co_return db_down();
    co_return api::register_number(tables, s, secret, r);
  }
  boost::asio::awaitable<pg::db_result<receive_outcome>> receive_sms(sms_settings s, receive_request r) override {
    if (tables.down) co_return db_down();
    co_return api::receive_sms(tables, s, r);
  }
  boost::asio::awaitable<pg::db_result<pin_status>> set_pin(std::string mobile, std::string hash, std::string sealed) override {
    if (tables.down) co_return db_down();
    co_return api::set_pin(tables, mobile, hash, sealed);
  }
  boost::asio::awaitable<pg::db_result<std::string>> blacklist_json() override {
    if (tables.down) co_return db_down();
    std::string out = "[";
    for (const auto& m : tables.blacklist) {
      if (out.size() > 1) out += ',';
      out += R"({"mobile_number":")";
      out += m;
      out += R"("})";
    }
    out += ']';
    co_return out;
  }
  boost::asio::awaitable<pg::db_result<void>> blacklist(std::string mobile, std::string reason) override {
    if (tables.down) co_return db_down();
    if (std::find(tables.blacklist.begin(), tables.blacklist.end(), mobile) == tables.blacklist.end()) tables.blacklist.push_back(mobile);
    blacklist_reasons[mobile] = reason;
    co_return pg::db_result<void>{};
  }
  boost::asio::awaitable<pg::db_result<bool>> unblacklist(std::string mobile) override {
    if (tables.down) co_return db_down();
    co_return std::erase(tables.blacklist, mobile) > 0;
  }
  boost::asio::awaitable<pg::db_result<std::int64_t>> requeue_failed() override {
    if (tables.down) co_return db_down();
    co_return std::exchange(failed_items, 0);
  }
  boost::asio::awaitable<pg::db_result<sms_gauges>> gauges() override {
    if (tables.down) co_return db_down();
    co_return sms_gauges{static_cast<double>(tables.outbox.size()), static_cast<double>(tables.codes.size()),
                         static_cast<double>(tables.blacklist.size())};
  }
};

// ---- the backend ----------------------------------------------------------------------------

class fake_backend final : public backend {
 public:
  unsigned answer = 200;  // 0: unreachable
  struct post_call {
    std::string url, body, key;
  };
  std::vector<post_call> posts;

  boost::asio::awaitable<fallible<backend_answer>> post(std::string url, std::string body, std::string key,
                                                        std::chrono::milliseconds) override {
    posts.push_back({url, body, key});
    if (answer == 0) co_return fail("cannot connect to the backend.");
    co_return backend_answer{answer};
  }
};

// ---- the notification outbox ------------------------------------------------------------------

struct fake_notification_store final : notification_store {
  std::vector<notification_row> due;  // claimed in order
  std::vector<std::int64_t> delivered_ids, released_ids;
  struct failure {
    std::int64_t id;
    std::string error;
    int give_up_after;
    std::chrono::seconds retry_in;
  };
  std::vector<failure> failures;
  notification_plan queued;

  boost::asio::awaitable<pg::db_result<std::int64_t>> enqueue(notification_plan plan) override {
    queued.insert(queued.end(), plan.begin(), plan.end());
    co_return std::int64_t{0};
  }
  boost::asio::awaitable<pg::db_result<std::vector<notification_row>>> claim(std::string, int limit, std::chrono::seconds) override {
    std::vector<notification_row> out(due.begin(), due.begin() + std::min<std::ptrdiff_t>(limit, static_cast<std::ptrdiff_t>(due.size())));
    due.erase(due.begin(), due.begin() + static_cast<std::ptrdiff_t>(out.size()));
    co_return out;
  }
  boost::asio::awaitable<pg::db_result<void>> delivered(std::int64_t id) override {
    delivered_ids.push_back(id);
    co_return pg::db_result<void>{};
  }
  boost::asio::awaitable<pg::db_result<void>> attempt_failed(std::int64_t id, std::string error, int give_up_after,
                                                             std::chrono::seconds retry_in) override {
    failures.push_back({id, std::move(error), give_up_after, retry_in});
    co_return pg::db_result<void>{};
  }
  boost::asio::awaitable<pg::db_result<void>> release(std::vector<std::int64_t> ids) override {
    released_ids.insert(released_ids.end(), ids.begin(), ids.end());
    co_return pg::db_result<void>{};
  }
  boost::asio::awaitable<pg::db_result<std::int64_t>> trim_and_count() override { co_return static_cast<std::int64_t>(due.size()); }
};


}  // namespace smsbridge::api::testing
