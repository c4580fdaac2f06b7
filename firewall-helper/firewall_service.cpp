// The helper's core: every privileged verb re-validates its request against the helper's own
// config before a batch is rendered from typed values; state and kernel change together.
#include "firewall-helper/firewall_service.hpp"

#include "firewall-helper/door_log.hpp"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>
#include <google/protobuf/util/time_util.h>

#include "common/log.hpp"
#include "proto/framing.hpp"

namespace smsbridge::firewall {

namespace {
using google::protobuf::util::TimeUtil;
using std::chrono::milliseconds;

constexpr std::size_t max_actor = 64;
constexpr std::size_t max_reason = 256;
constexpr std::size_t max_door_reason = 200;  // an Open's or an Extend's reason, in characters
constexpr std::size_t max_check_ports = 256;
constexpr std::uint32_t max_scan_count = 100;
constexpr std::uint32_t default_events = 100, max_events = 1000;
// Repeated fields of an answer stop growing at this many bytes, so it always fits one frame.
constexpr std::size_t answer_budget = 56 * 1024;
// A grant this close to its deadline is left to the expiry timer rather than re-applied.
constexpr std::int64_t expiry_slack_ms = 1000;

refusal refuse(v1::ErrorCode code, std::string message) { return refusal{code, std::move(message)}; }

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

answer check_text(std::string_view what, std::string_view text, std::size_t max) {
  if (text.size() > max || !printable(text)) {
    return refuse(v1::INVALID_ARGUMENT, fmt::format("The {} must be at most {} printable ASCII characters.", what, max));
  }
  return {};
}

// A door's reason: valid UTF-8 of at most max_door_reason characters (code points), none a control
// character (C0, DEL, C1): it is shown to people and written to journald and JSON, where a newline
// or an escape sequence would forge or garble a line.
answer check_door_reason(std::string_view text) {
  const auto bad = [] {
    return refuse(v1::INVALID_ARGUMENT, fmt::format("The reason must be at most {} printable characters, with no newlines or "
                                                    "other control characters.", max_door_reason));
  };
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++chars) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (lead < 0x80) len = 1, cp = lead;
    else if ((lead & 0xE0) == 0xC0) len = 2, cp = lead & 0x1Fu;
    else if ((lead & 0xF0) == 0xE0) len = 3, cp = lead & 0x0Fu;
    else if ((lead & 0xF8) == 0xF0) len = 4, cp = lead & 0x07u;
    else return bad();
    if (i + len > text.size()) return bad();
    for (std::size_t k = 1; k < len; ++k) {
      const auto cont = static_cast<unsigned char>(text[i + k]);
      if ((cont & 0xC0) != 0x80) return bad();
      cp = (cp << 6) | (cont & 0x3Fu);
    }
    constexpr std::uint32_t shortest[] = {0, 0, 0x80, 0x800, 0x10000};  // anything less is an overlong form
    if (cp < shortest[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return bad();
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return bad();
    i += len;
  }
  if (chars > max_door_reason) return bad();
  return {};
}

state::JournalRecord event_record(const v1::Event& e) {
  state::JournalRecord r;
  *r.mutable_event() = e;
  return r;
}
}  // namespace

std::uint64_t fresh_journal_seq(std::int64_t now_ms) {
  // A clock before 1970 (a board without an RTC) still gives a valid first number.
  return now_ms > 0 ? static_cast<std::uint64_t>(now_ms) * 1000 : 1;
}

// The whole privileged surface, in one place.
const firewall_service::dispatch_entry firewall_service::dispatch_table[] = {
    {v1::Request::kOpen, "open", &firewall_service::answer_open},
    {v1::Request::kClose, "close", &firewall_service::answer_close},
    {v1::Request::kCloseAll, "close-all", &firewall_service::answer_close_all},
    {v1::Request::kList, "list", &firewall_service::answer_list},
    {v1::Request::kStatus, "status", &firewall_service::answer_status},
    {v1::Request::kCheckPorts, "check-ports", &firewall_service::answer_check_ports},
    {v1::Request::kScanPorts, "scan-ports", &firewall_service::answer_scan_ports},
    {v1::Request::kEvents, "events", &firewall_service::answer_events},
    {v1::Request::kAck, "ack", &firewall_service::answer_ack},
    {v1::Request::kExtend, "extend", &firewall_service::answer_extend},
    {v1::Request::kOpenMany, "open-many", &firewall_service::answer_open_many},
};

firewall_service::firewall_service(const helper_config& config, service_deps deps)
    : config_(config), deps_(std::move(deps)) {}

v1::Response firewall_service::error_response(std::uint64_t request_id, v1::ErrorCode code, std::string message) {
  v1::Response r;
  r.set_request_id(request_id);
  r.mutable_error()->set_code(code);
  r.mutable_error()->set_message(std::move(message));
  return r;
}

bool firewall_service::peer_allowed(const peer_identity& peer) const {
  if (peer.uid == ::geteuid()) return true;
  if (std::find(config_.allowed_uids.begin(), config_.allowed_uids.end(), peer.uid) != config_.allowed_uids.end()) return true;
  return std::find(config_.allowed_gids.begin(), config_.allowed_gids.end(), peer.gid) != config_.allowed_gids.end();
}

v1::Response firewall_service::handle(const v1::Request& request, const peer_identity& peer) {
  v1::Response response;
  response.set_request_id(request.request_id());
  answer result = refuse(v1::UNKNOWN_VERB, "The request names no verb this helper knows (the client may be newer than the helper).");
  const dispatch_entry* entry = nullptr;
  for (const auto& e : dispatch_table)
    if (e.verb == request.verb_case()) entry = &e;
  if (!peer_allowed(peer)) {
    result = refuse(v1::PERMISSION_DENIED, fmt::format("uid {} (gid {}) is not allowed to use the firewall helper.", peer.uid, peer.gid));
  } else if (entry) {
    result = (this->*entry->fn)(request, peer, response);
  }
  const char* verb = entry ? entry->name : "an unknown verb";
  if (!result) {
    ++counters_.refusals;
    // Logged here, once. A failed kernel change or state write was logged as an error where it
    // failed, with the detail the client's sentence leaves out; it is not logged again.
    const v1::ErrorCode code = result.error().code;
    if (code != v1::NFT_FAILED && code != v1::STATE_WRITE_FAILED) {
      log::write(code == v1::PERMISSION_DENIED ? log::level::warning : log::level::notice,
                 fmt::format("refused {} from uid {}: {}", verb, peer.uid, result.error().message));
    }
    return error_response(request.request_id(), result.error().code, result.error().message);
  }
  return response;
}

// ---- verbs -------------------------------------------------------------------------------

answer firewall_service::prepare_open(const v1::OpenRequest& open, const peer_identity& peer, std::size_t planned,
                                      live_grant& g) {
  auto allowed = validate_open(config_, grant_request{open.service(), open.external_port(), open.source(), open.duration_seconds()});
  if (!allowed) return allowed.error();
  const service_config* svc = allowed->service;
  const std::uint16_t port = allowed->external_port;
  if (auto r = check_text("actor", open.actor(), max_actor); !r) return r;
  if (auto r = check_door_reason(open.reason()); !r) return r;
  if (grants_.count(svc->name)) {
    return refuse(v1::ALREADY_OPEN, fmt::format("Service '{}' already has an open door; close it first.", svc->name));
  }
  if (grants_.size() + planned >= config_.max_grants) {
    return refuse(v1::RESOURCE_EXHAUSTED, fmt::format("The helper already holds its maximum of {} doors.", config_.max_grants));
  }
  if (events_.size() + planned >= config_.max_pending_events) {
    return refuse(v1::RESOURCE_EXHAUSTED, fmt::format("The event journal holds {} unacknowledged events; no door opens until "
                                                      "they are acknowledged, so that none goes unaudited.", events_.size()));
  }
  if (auto busy = port_unavailable(port, svc->name)) {
    return refuse(v1::PORT_IN_USE, fmt::format("External port {} is not free: {}.", port, *busy));
  }
  const std::int64_t now = deps_.now_ms();
  g.rule = grant_rule{allowed->source, port, svc->target};
  g.expires_ms = now + std::int64_t{open.duration_seconds()} * 1000;
  g.deadline_steady_ms = deps_.steady_ms() + std::int64_t{open.duration_seconds()} * 1000;
  g.grant_id = deps_.new_grant_id();
  g.service = svc->name;
  g.opened_ms = now;
  g.opened_by = open.actor().empty() ? fmt::format("uid:{}", peer.uid) : open.actor();
  g.reason = open.reason();
  return {};
}

// An Open answered OK is in the kernel and durable; its two halves run at once (netlink and the
// disk are different resources). A crash in between leaves one half, and start-up makes the two
// agree: a recorded door missing from a surviving table is closed (EXPIRED_WHILE_DOWN), one whose
// table is gone is re-applied with its deadline (its OPENED event is in the journal either way),
// and an element the state does not know goes with the table's re-installation (docs/decisions.md,
// "An Open's two halves"). Several doors share one batch and one write: all open or none does.
answer firewall_service::open_together(std::vector<live_grant>& doors, std::vector<v1::Grant>& records) {
  std::string batch;
  for (const auto& g : doors) {
    records.push_back(g.to_proto());
    batch += render_add_grant(config_.table, g.rule, milliseconds(g.expires_ms - g.opened_ms));
  }
  std::string kernel_error;
  auto outcome = open_both_halves(doors, records, batch, kernel_error);
  if (outcome == open_outcome::kernel_refused) {
    // The reconciler sleeps while no door is open, so a table flushed meanwhile is found here:
    // repair it and try once more.
    log::warning("nft refused to open {} ({}); reconciling and retrying", names_of(doors), kernel_error);
    reconcile();
    outcome = open_both_halves(doors, records, batch, kernel_error);
  }
  if (outcome == open_outcome::kernel_refused) {
    ++counters_.nft_failures;
    log::error("nft refused to open {}: {}", names_of(doors), kernel_error);
    return refuse(v1::NFT_FAILED, doors.size() == 1 ? fmt::format("The kernel refused to open the door for '{}'; nothing was changed.",
                                                                  doors.front().service)
                                                    : fmt::format("The kernel refused to open the doors for {}; nothing was changed.",
                                                                  names_of(doors)));
  }
  if (outcome == open_outcome::journal_failed) {
    return refuse(v1::STATE_WRITE_FAILED, "The helper could not write its state file; nothing was changed.");
  }
  for (std::size_t i = 0; i < doors.size(); ++i) {
    const live_grant& g = doors[i];
    const v1::Grant& record = records[i];
    ++counters_.opens;
    log::event(log::level::notice, message_id_of(v1::OPENED), door_fields(v1::OPENED, record, g.opened_by, g.reason),
               fmt::format("opened door {} port {} -> {} for {} until {} by {}{}{}", g.service, g.rule.external_port, record.target(),
                           record.source(), TimeUtil::ToString(record.expires_at()), g.opened_by, g.reason.empty() ? "" : ": ",
                           g.reason));
    insert_live(g);
  }
  maybe_compact();
  return {};
}

answer firewall_service::answer_open(const v1::Request& request, const peer_identity& peer, v1::Response& response) {
  std::vector<live_grant> doors(1);
  if (auto r = prepare_open(request.open(), peer, 0, doors.front()); !r) return r;
  std::vector<v1::Grant> records;
  if (auto r = open_together(doors, records); !r) return r;
  *response.mutable_open()->mutable_grant() = std::move(records.front());
  return {};
}

answer firewall_service::answer_open_many(const v1::Request& request, const peer_identity& peer, v1::Response& response) {
  const auto& asked = request.open_many().doors();
  if (asked.empty() || static_cast<std::size_t>(asked.size()) > proto::max_open_many_doors) {
    return refuse(v1::INVALID_ARGUMENT, fmt::format("Open-many takes 1 to {} doors, not {}.", proto::max_open_many_doors, asked.size()));
  }
  // Each door is judged as an Open alone would be, with the doors before it in this request
  // counted as opening: a service or port named twice opens once.
  std::vector<std::optional<refusal>> refused(static_cast<std::size_t>(asked.size()));
  std::vector<live_grant> doors;
  std::vector<std::size_t> position;  // doors[k] answers asked[position[k]]
  std::set<std::string> services;
  std::set<std::uint32_t> ports;
  for (int i = 0; i < asked.size(); ++i) {
    const auto& open = asked[i];
    answer judged;
    live_grant g;
    if (services.count(open.service())) {
      judged = refuse(v1::ALREADY_OPEN, fmt::format("Service '{}' is named twice in one open-many.", open.service()));
    } else if (ports.count(open.external_port())) {
      judged = refuse(v1::PORT_IN_USE, fmt::format("External port {} is named twice in one open-many.", open.external_port()));
    } else {
      judged = prepare_open(open, peer, doors.size(), g);
    }
    if (!judged) {
      ++counters_.refusals;
      log::notice("refused open of '{}' (one of an open-many) from uid {}: {}", open.service(), peer.uid, judged.error().message);
      refused[static_cast<std::size_t>(i)] = judged.error();
      continue;
    }
    services.insert(open.service());
    ports.insert(open.external_port());
    position.push_back(static_cast<std::size_t>(i));
    doors.push_back(std::move(g));
  }
  std::vector<v1::Grant> records;
  bool opened = false;
  if (!doors.empty()) {
    auto r = open_together(doors, records);
    opened = r.has_value();
    if (!r) {
      counters_.refusals += doors.size();
      for (std::size_t k = 0; k < doors.size(); ++k) refused[position[k]] = r.error();
    }
  }
  auto* result = response.mutable_open_many();
  for (int i = 0; i < asked.size(); ++i) result->add_outcomes();
  for (std::size_t i = 0; i < refused.size(); ++i) {
    if (!refused[i]) continue;
    auto* e = result->mutable_outcomes(static_cast<int>(i))->mutable_error();
    e->set_code(refused[i]->code);
    e->set_message(refused[i]->message);
  }
  for (std::size_t k = 0; opened && k < records.size(); ++k) {
    *result->mutable_outcomes(static_cast<int>(position[k]))->mutable_grant() = std::move(records[k]);
  }
  return {};
}

std::string firewall_service::names_of(const std::vector<live_grant>& doors) {
  std::string out;
  for (const auto& g : doors) out += fmt::format("{}'{}'", out.empty() ? "" : ", ", g.service);
  return out;
}

firewall_service::open_outcome firewall_service::open_both_halves(const std::vector<live_grant>& doors,
                                                                  const std::vector<v1::Grant>& grants, const std::string& batch,
                                                                  std::string& kernel_error) {
  // The numbers are used up even if the attempt fails: a voided event's number is not given again.
  std::vector<v1::Event> events;
  std::vector<state::JournalRecord> records;
  for (std::size_t i = 0; i < doors.size(); ++i) {
    events.push_back(make_event(v1::OPENED, &grants[i], doors[i].opened_by, doors[i].reason, "", next_seq_++));
    state::JournalRecord opened;
    *opened.mutable_opened() = grants[i];
    records.push_back(std::move(opened));
    records.push_back(event_record(events.back()));
  }

  const auto crash_at = deps_.crash_open ? deps_.crash_open->at : open_crash_point::none;  // none but in test builds
  if (crash_at != open_crash_point::kernel_changed) deps_.store.begin_append(records);
  if (crash_at == open_crash_point::journal_written && deps_.store.finish_append()) deps_.crash_open->crash();
  auto added = run_nft(batch);
  if (crash_at == open_crash_point::kernel_changed) {
    if (added) deps_.crash_open->crash();
    deps_.store.begin_append(records);
  }
  auto written = deps_.store.finish_append();

  if (added && written) {
    for (auto& e : events) events_.push_back(std::move(e));
    return open_outcome::done;
  }
  if (!written) log::error("cannot record the opening of {} in the state journal: {}", names_of(doors), written.error());
  if (!added) kernel_error = added.error().message;  // the caller logs it, once it gives up
  if (added)
    for (const auto& g : doors) remove_from_kernel(g);
  if (written) {
    std::vector<state::JournalRecord> voids;
    for (std::size_t i = 0; i < doors.size(); ++i) {
      state::JournalRecord voided;
      voided.mutable_voided()->set_service(doors[i].service);
      voided.mutable_voided()->set_grant_id(doors[i].grant_id);
      voided.mutable_voided()->set_event_seq(events[i].seq());
      voids.push_back(std::move(voided));
    }
    if (auto v = deps_.store.append(voids); !v) {
      // The journal still says the doors opened; a snapshot from memory (which has no such door)
      // replaces it, or the next start re-applies doors whose Open was refused.
      log::error("cannot void the refused opening of {} in the state journal ({}); writing a snapshot instead", names_of(doors), v.error());
      if (auto snap = deps_.store.write_snapshot(snapshot()); !snap) {
        log::error("cannot write the state snapshot either ({}): the next start may re-open the door of {} until its deadline",
                   snap.error(), names_of(doors));
      }
    }
  }
  return written ? open_outcome::kernel_refused : open_outcome::journal_failed;
}

answer firewall_service::answer_extend(const v1::Request& request, const peer_identity& peer, v1::Response& response) {
  const v1::ExtendRequest& extend = request.extend();
  if (!is_valid_service_name(extend.service())) {
    return refuse(v1::INVALID_ARGUMENT, "The service name must be 1 to 32 of a-z, 0-9, '_' and '-'.");
  }
  if (!config_.find_service(extend.service())) {
    return refuse(v1::UNKNOWN_SERVICE, fmt::format("The firewall helper has no service named '{}'.", extend.service()));
  }
  if (auto r = check_text("actor", extend.actor(), max_actor); !r) return r;
  if (auto r = check_door_reason(extend.reason()); !r) return r;
  auto it = grants_.find(extend.service());
  if (it == grants_.end()) return refuse(v1::NOT_OPEN, fmt::format("Service '{}' has no open door.", extend.service()));
  // The same policy as an Open, with the door's own port and source and the new length: a door
  // the config would no longer open is not prolonged (nor shortened) either.
  const live_grant old = it->second;
  const std::string source = old.rule.source.to_string();
  auto allowed = validate_open(config_, grant_request{old.service, old.rule.external_port, source, extend.duration_seconds()});
  if (!allowed) return allowed.error();
  if (allowed->service->target != old.rule.target) {
    return refuse(v1::INVALID_ARGUMENT, fmt::format("Service '{}' now forwards to {}, not {}; close the door and open it again.",
                                                    old.service, allowed->service->target.to_string(), old.rule.target.to_string()));
  }
  if (events_.size() >= config_.max_pending_events) {
    return refuse(v1::RESOURCE_EXHAUSTED, fmt::format("The event journal holds {} unacknowledged events; no door changes until "
                                                      "they are acknowledged, so that none goes unaudited.", events_.size()));
  }

  const milliseconds length(std::int64_t{extend.duration_seconds()} * 1000);
  const std::int64_t steady_now = deps_.steady_ms();
  if (old.deadline_steady_ms - steady_now <= expiry_slack_ms) {
    // The kernel may already have dropped the element, so a renewal would fail as an nft error:
    // the door is closing, and the expiry timer closes it within the slack.
    return refuse(v1::NOT_OPEN, fmt::format("The door of '{}' is closing (its deadline is less than a second away); open it again.",
                                            old.service));
  }
  const milliseconds old_remaining(old.deadline_steady_ms - steady_now);
  live_grant g = old;
  g.expires_ms = deps_.now_ms() + length.count();
  g.deadline_steady_ms = steady_now + length.count();
  const v1::Grant record = g.to_proto();

  // Kernel first, then the state (an Extend is rarer than an Open and is not overlapped): a crash
  // in between leaves the kernel with the new timeout and the state with the old deadline, and
  // start-up keeps the shorter of the two.
  auto renewed = renew_element(g, length);
  if (!renewed) {
    // The element may be gone (a flush, or someone deleted it): the reconciler re-applies it
    // with the old deadline, then the renewal is tried once more.
    log::warning("nft refused to renew the door of {} ({}); reconciling and retrying", g.service, renewed.error());
    reconcile();
    if (!grants_.count(g.service)) {
      return refuse(v1::NOT_OPEN, fmt::format("Service '{}' has no open door: the kernel had lost it.", g.service));
    }
    renewed = renew_element(g, length);
  }
  if (!renewed) {
    ++counters_.nft_failures;
    log::error("nft refused to renew the door of {}: {}", g.service, renewed.error());
    return refuse(v1::NFT_FAILED, fmt::format("The kernel refused to change the door of '{}'; its deadline is unchanged.", g.service));
  }
  const std::string actor = extend.actor().empty() ? fmt::format("uid:{}", peer.uid) : extend.actor();
  v1::Event event = make_event(v1::EXTENDED, &record, actor, extend.reason(), "", next_seq_);
  *event.mutable_previous_expires_at() = TimeUtil::MillisecondsToTimestamp(old.expires_ms);
  state::JournalRecord changed;  // replayed like an Open: the service's grant is replaced
  *changed.mutable_opened() = record;
  if (auto r = persist({changed, event_record(event)}, fmt::format("the new deadline of '{}'", g.service)); !r) {
    // Back to the old timeout; if even that fails the reconciler finds the drift and restores it.
    if (auto back = renew_element(old, old_remaining); !back) {
      ++counters_.nft_failures;
      reconcile_wanted_ = true;
      log::error("nft could not restore the old timeout of '{}' ({}); the reconciler will", g.service, back.error());
    }
    return r;
  }
  events_.push_back(event);
  next_seq_ = event.seq() + 1;
  move_deadline(g.service, g.expires_ms, g.deadline_steady_ms);
  log::event(log::level::notice, message_id_of(v1::EXTENDED), door_fields(v1::EXTENDED, record, actor, extend.reason()),
             fmt::format("moved the deadline of door {} port {} for {} from {} to {} by {}{}{}", g.service, g.rule.external_port,
                         record.source(), TimeUtil::ToString(event.previous_expires_at()), TimeUtil::ToString(record.expires_at()),
                         actor, extend.reason().empty() ? "" : ": ", extend.reason()));
  auto* result = response.mutable_extend();
  *result->mutable_grant() = record;
  *result->mutable_previous_expires_at() = event.previous_expires_at();
  maybe_compact();
  return {};
}

answer firewall_service::answer_close(const v1::Request& request, const peer_identity& peer, v1::Response& response) {
  const v1::CloseRequest& close = request.close();
  if (!is_valid_service_name(close.service())) {
    return refuse(v1::INVALID_ARGUMENT, "The service name must be 1 to 32 of a-z, 0-9, '_' and '-'.");
  }
  if (!config_.find_service(close.service())) {
    return refuse(v1::UNKNOWN_SERVICE, fmt::format("The firewall helper has no service named '{}'.", close.service()));
  }
  if (auto r = check_text("actor", close.actor(), max_actor); !r) return r;
  if (auto r = check_text("reason", close.reason(), max_reason); !r) return r;
  if (!grants_.count(close.service())) {
    return refuse(v1::NOT_OPEN, fmt::format("Service '{}' has no open door.", close.service()));
  }
  const std::string actor = close.actor().empty() ? fmt::format("uid:{}", peer.uid) : close.actor();
  return close_grant(close.service(), v1::CLOSED, actor, close.reason(), response.mutable_close()->mutable_grant());
}

answer firewall_service::answer_close_all(const v1::Request& request, const peer_identity& peer, v1::Response& response) {
  const v1::CloseAllRequest& close = request.close_all();
  if (auto r = check_text("actor", close.actor(), max_actor); !r) return r;
  if (auto r = check_text("reason", close.reason(), max_reason); !r) return r;
  const std::string actor = close.actor().empty() ? fmt::format("uid:{}", peer.uid) : close.actor();
  auto* result = response.mutable_close_all();
  std::vector<std::string> services;
  for (const auto& [name, g] : grants_) services.push_back(name);
  std::size_t bytes = 0;
  for (const auto& name : services) {
    v1::Grant closed;
    if (auto r = close_grant(name, v1::CLOSED, actor, close.reason(), &closed); !r) return r;
    result->set_closed_count(result->closed_count() + 1);
    bytes += closed.ByteSizeLong() + 8;
    if (bytes < answer_budget) *result->add_closed() = std::move(closed);
  }
  return {};
}

answer firewall_service::answer_list(const v1::Request& request, const peer_identity&, v1::Response& response) {
  const auto& ask = request.list();
  auto* list = response.mutable_list();
  list->set_total(static_cast<std::uint32_t>(grants_.size()));
  *list->mutable_now() = TimeUtil::MillisecondsToTimestamp(deps_.now_ms());
  // One listing of the table per request, however many grants: the kernel's own remaining
  // timeouts, and the drift check on them. Within a second of the last listing (and no change
  // made since), that listing again, aged by the time since; drift made behind the helper's back
  // meanwhile is seen by the next listing or the periodic reconcile.
  const std::int64_t steady_now = deps_.steady_ms();
  std::int64_t aged_by_ms = 0;
  std::optional<kernel_view> view;
  const bool fresh_view = !list_view_ || steady_now - list_view_at_ms_ >= list_view_max_age_ms || steady_now < list_view_at_ms_;
  if (!fresh_view) {
    view = list_view_;
    aged_by_ms = steady_now - list_view_at_ms_;
  } else if (auto listing = run_nft(render_list_table(config_.table), nft_output::json)) {
    if (auto parsed = parse_kernel_view(*listing)) view = std::move(*parsed);
    else log::error("list: {}", parsed.error());
  }
  std::map<std::string, std::int64_t> repaired;
  if (!view || !view->skeleton_intact) {
    reconcile_wanted_ = true;  // a missing or damaged table: reconcile() rebuilds it after this answer
  } else if (fresh_view) {
    const reconcile_plan plan = plan_reconcile(*view, held_grants(), config_.on_drift, config_.table, expiry_slack_ms);
    const bool rebuild = needs_structural_repair(plan);
    if (rebuild) reconcile_wanted_ = true;
    std::vector<v1::Event> events;
    repaired = repair_timeouts(plan.timeouts_to_repair, events);
    record_events(std::move(events));
    // Kept for the next Lists only when it is still the kernel's table: nothing to repair or rebuild.
    if (repaired.empty() && !rebuild) {
      list_view_ = view;
      list_view_at_ms_ = steady_now;
    }
  }
  std::size_t bytes = 0;
  for (auto it = grants_.upper_bound(ask.after_service()); it != grants_.end(); ++it) {
    v1::Grant record = it->second.to_proto();
    if (auto r = repaired.find(it->first); r != repaired.end()) {
      record.set_kernel_expires_in_ms(static_cast<std::uint64_t>(r->second));
    } else if (view && view->skeleton_intact) {
      // Whole seconds, as the kernel lists them: the door lasts at least this long.
      auto k = view->grant_expires_ms.find({record.source(), static_cast<std::uint16_t>(record.external_port())});
      if (k != view->grant_expires_ms.end()) {
        record.set_kernel_expires_in_ms(static_cast<std::uint64_t>(std::max<std::int64_t>(0, k->second - 999 - aged_by_ms)));
      }
    }
    bytes += record.ByteSizeLong() + 8;
    if (bytes >= answer_budget || (ask.max() != 0 && static_cast<std::uint32_t>(list->grants_size()) >= ask.max())) {
      list->set_next_after_service(std::prev(it)->first);
      break;
    }
    *list->add_grants() = std::move(record);
  }
  return {};
}

answer firewall_service::answer_status(const v1::Request&, const peer_identity&, v1::Response& response) {
  auto* status = response.mutable_status();
  status->set_version(SMS_BRIDGE_VERSION);
  status->set_cap_net_admin(has_cap_net_admin());
  status->set_live_grants(static_cast<std::uint32_t>(grants_.size()));
  status->set_pending_events(static_cast<std::uint32_t>(events_.size()));
  status->set_next_event_seq(next_seq_);
  auto* c = status->mutable_counters();
  c->set_opens(counters_.opens);
  c->set_closes(counters_.closes);
  c->set_expiries(counters_.expiries);
  c->set_refusals(counters_.refusals);
  c->set_drift_repairs(counters_.drift_repairs);
  c->set_nft_failures(counters_.nft_failures);
  c->set_connections(counters_.connections);
  c->set_connections_refused(counters_.connections_refused);
  c->set_bad_frames(counters_.bad_frames);
  status->set_config_digest(config_.digest);
  status->set_host_address(deps_.probe.default_route_address());
  nft_latency_.fill(*status->mutable_nft_batch_seconds());
  for (auto& w : deps_.probe.warnings(config_)) status->add_warnings(std::move(w));
  status->set_started_fail_closed(started_fail_closed_);
  status->set_table(config_.table);
  *status->mutable_started_at() = TimeUtil::MillisecondsToTimestamp(started_at_ms_);
  for (const auto& [name, svc] : config_.services) status->add_services(name);
  return {};
}

answer firewall_service::answer_check_ports(const v1::Request& request, const peer_identity&, v1::Response& response) {
  const auto& ports = request.check_ports().ports();
  if (ports.empty() || static_cast<std::size_t>(ports.size()) > max_check_ports) {
    return refuse(v1::INVALID_ARGUMENT, fmt::format("Give 1 to {} ports to check.", max_check_ports));
  }
  for (auto p : ports) {
    if (p == 0 || p > 65535) return refuse(v1::INVALID_ARGUMENT, fmt::format("{} is not a TCP port (1 to 65535).", p));
  }
  auto* result = response.mutable_check_ports();
  for (auto p : ports) {
    auto* status = result->add_ports();
    status->set_port(p);
    auto why = port_unavailable(p, "");
    status->set_free(!why);
    if (why) status->set_reason(*why);
  }
  return {};
}

answer firewall_service::answer_scan_ports(const v1::Request& request, const peer_identity&, v1::Response& response) {
  const auto& scan = request.scan_ports();
  if (scan.start() == 0 || scan.end() > 65535 || scan.start() > scan.end()) {
    return refuse(v1::INVALID_ARGUMENT, "The scan range must satisfy 1 <= start <= end <= 65535.");
  }
  if (scan.count() == 0 || scan.count() > max_scan_count) {
    return refuse(v1::INVALID_ARGUMENT, fmt::format("The count must be from 1 to {}.", max_scan_count));
  }
  auto* result = response.mutable_scan_ports();
  for (std::uint32_t p = scan.start(); p <= scan.end() && static_cast<std::uint32_t>(result->ports_size()) < scan.count(); ++p) {
    if (port_unavailable(p, "")) continue;
    auto* status = result->add_ports();
    status->set_port(p);
    status->set_free(true);
  }
  return {};
}

answer firewall_service::answer_events(const v1::Request& request, const peer_identity&, v1::Response& response) {
  const auto& ask = request.events();
  const std::uint32_t max = ask.max() == 0 ? default_events : std::min(ask.max(), max_events);
  auto* result = response.mutable_events();
  std::size_t bytes = 0;
  // Events are in seq order: skip the acknowledged prefix by binary search, not a scan.
  auto first = std::upper_bound(events_.begin(), events_.end(), ask.after_seq(),
                                [](std::uint64_t seq, const v1::Event& e) { return seq < e.seq(); });
  for (auto it = first; it != events_.end(); ++it) {
    bytes += it->ByteSizeLong() + 8;
    if (static_cast<std::uint32_t>(result->events_size()) >= max || bytes >= answer_budget) break;
    *result->add_events() = *it;
  }
  result->set_next_seq(next_seq_);
  return {};
}

answer firewall_service::answer_ack(const v1::Request& request, const peer_identity&, v1::Response& response) {
  const std::uint64_t seq = request.ack().seq();
  if (seq == 0 || seq >= next_seq_) {
    return refuse(v1::INVALID_ARGUMENT, fmt::format("Cannot acknowledge event {}: the newest event is {}.", seq, next_seq_ - 1));
  }
  state::JournalRecord r;
  r.set_acked_through(seq);
  if (auto p = persist({r}, fmt::format("the acknowledgement of event {}", seq)); !p) return p;
  while (!events_.empty() && events_.front().seq() <= seq) events_.pop_front();
  response.mutable_ack()->set_acked_through(seq);
  response.mutable_ack()->set_pending_events(static_cast<std::uint32_t>(events_.size()));
  maybe_compact();
  return {};
}

// ---- internals ---------------------------------------------------------------------------

std::optional<std::string> firewall_service::port_unavailable(std::uint32_t port, std::string_view for_service) {
  if (auto why = port_not_allowed(config_, static_cast<std::uint16_t>(port))) return why;
  if (auto it = port_owner_.find(static_cast<std::uint16_t>(port)); it != port_owner_.end() && it->second != for_service) {
    return fmt::format("granted to '{}'", it->second);
  }
  switch (deps_.probe.port_in_use(static_cast<std::uint16_t>(port))) {
    case port_use::bound: return "a process on this host is bound to it";
    case port_use::unknown: return "the helper cannot tell whether a process on this host is bound to it";
    case port_use::free: break;
  }
  return std::nullopt;
}

answer firewall_service::persist(const std::vector<state::JournalRecord>& records, std::string_view what) {
  if (auto r = deps_.store.append(records); !r) {
    log::error("cannot record {} in the state journal: {}", what, r.error());
    return refuse(v1::STATE_WRITE_FAILED, "The helper could not write its state file; nothing was changed.");
  }
  return {};
}

v1::Event firewall_service::make_event(v1::EventKind kind, const v1::Grant* grant, std::string_view actor,
                                       std::string_view reason, std::string_view detail, std::uint64_t seq) const {
  v1::Event e;
  e.set_seq(seq);
  e.set_kind(kind);
  *e.mutable_at() = TimeUtil::MillisecondsToTimestamp(deps_.now_ms());
  if (grant) *e.mutable_grant() = *grant;
  e.set_actor(std::string(actor));
  e.set_reason(std::string(reason));
  e.set_detail(std::string(detail));
  return e;
}

void firewall_service::record_events(std::vector<v1::Event> events) {
  if (events.empty()) return;
  std::vector<state::JournalRecord> records;
  for (auto& e : events) {
    e.set_seq(next_seq_++);
    records.push_back(event_record(e));
  }
  // The events are kept in memory even if the write fails: the next snapshot persists them.
  if (auto r = deps_.store.append(records); !r) {
    log::error("cannot record {} event(s) in the state journal (kept in memory for the next snapshot): {}", records.size(), r.error());
  }
  for (auto& e : events) events_.push_back(std::move(e));
}

void firewall_service::remove_from_kernel(const live_grant& g) {
  if (run_nft(render_delete_grant(config_.table, g.rule, true))) return;
  // The element may already be gone (the kernel expired it); the map entry must still go.
  if (run_nft(render_delete_map_entry(config_.table, g.rule.target.address.family, g.rule.external_port))) return;
  ++counters_.nft_failures;
  log::error("nft could not remove the door of '{}'; the reconciler will retry", g.service);
  reconcile_wanted_ = true;
}

fallible<std::string> firewall_service::renew_element(const live_grant& g, milliseconds timeout) {
  // One batch is one nf_tables transaction: packets see the old element or the new one, never
  // neither, and a delete of a missing element fails the whole batch (nothing changes).
  return run_nft(render_delete_grant(config_.table, g.rule, false) + render_add_grant(config_.table, g.rule, timeout));
}

void firewall_service::move_deadline(const std::string& service, std::int64_t expires_ms, std::int64_t deadline_steady_ms) {
  live_grant& g = grants_.at(service);
  deadlines_.erase({g.deadline_steady_ms, service});
  g.expires_ms = expires_ms;
  g.deadline_steady_ms = deadline_steady_ms;
  deadlines_.emplace(deadline_steady_ms, service);
}

std::map<std::string, std::int64_t> firewall_service::repair_timeouts(const std::vector<drifted_timeout>& drifted,
                                                                      std::vector<v1::Event>& events) {
  std::map<std::string, std::int64_t> repaired;
  for (const auto& d : drifted) {
    const live_grant& g = grants_.at(d.service);
    const std::int64_t remaining = g.deadline_steady_ms - deps_.steady_ms();
    if (remaining <= expiry_slack_ms) continue;  // the expiry timer's job
    if (auto r = renew_element(g, milliseconds(remaining)); !r) {
      ++counters_.nft_failures;
      reconcile_wanted_ = true;
      log::error("reconcile: cannot renew the timeout of '{}': {}", d.service, r.error());
      continue;
    }
    ++counters_.drift_repairs;
    repaired[d.service] = remaining;
    const v1::Grant proto = g.to_proto();
    const std::int64_t off_ms = d.held_ms - d.kernel_ms;
    std::string detail = fmt::format("the kernel's deadline of '{}' drifted by {} s ({} s left instead of {} s); re-applied",
                                     d.service, (off_ms < 0 ? -off_ms : off_ms) / 1000, d.kernel_ms / 1000, d.held_ms / 1000);
    log::event(log::level::warning, message_id_of(v1::DRIFT_REPAIRED), door_fields(v1::DRIFT_REPAIRED, proto, "system", ""),
               fmt::format("drift: {}", detail));
    events.push_back(make_event(v1::DRIFT_REPAIRED, &proto, "system", "", detail, 0));
  }
  return repaired;
}

answer firewall_service::close_grant(const std::string& service, v1::EventKind kind, std::string_view actor,
                                     std::string_view reason, v1::Grant* closed, std::string_view detail) {
  const live_grant g = grants_.at(service);
  // State first, then the kernel: a crash in between leaves a kernel element without a state row,
  // which start-up removes; a closed door is never re-opened from the state file.
  const v1::Grant proto = g.to_proto();
  const v1::Event event = make_event(kind, &proto, actor, reason, detail, next_seq_);
  state::JournalRecord record;
  record.mutable_closed()->set_service(service);
  record.mutable_closed()->set_grant_id(g.grant_id);
  if (auto r = persist({record, event_record(event)}, fmt::format("the closing of '{}'", service)); !r) return r;
  events_.push_back(event);
  next_seq_ = event.seq() + 1;
  erase_live(service);
  remove_from_kernel(g);
  deps_.cutter.cut(g.rule.source, g.rule.external_port);
  if (closed) *closed = proto;
  if (kind == v1::EXPIRED) ++counters_.expiries;
  else ++counters_.closes;
  log::event(log::level::notice, message_id_of(kind), door_fields(kind, proto, actor, reason),
             fmt::format("closed door {} port {} for {} ({}, by {}{}{})", service, g.rule.external_port, proto.source(),
                         v1::EventKind_Name(kind), actor, reason.empty() ? "" : ": ", reason));
  maybe_compact();
  return {};
}

v1::Grant firewall_service::live_grant::to_proto() const {
  v1::Grant g;
  g.set_grant_id(grant_id);
  g.set_service(service);
  g.set_external_port(rule.external_port);
  g.set_target(rule.target.to_string());
  g.set_source(rule.source.to_string());
  *g.mutable_opened_at() = TimeUtil::MillisecondsToTimestamp(opened_ms);
  *g.mutable_expires_at() = TimeUtil::MillisecondsToTimestamp(expires_ms);
  g.set_opened_by(opened_by);
  g.set_reason(reason);
  return g;
}

boost::system::result<firewall_service::live_grant, failure> firewall_service::live_grant::from_proto(
    const v1::Grant& g, const service_config& svc) {
  auto source = parse_cidr(g.source());
  if (!source) return source.error();
  if (g.external_port() == 0 || g.external_port() > 65535) return fail("invalid external port");
  return live_grant{g.grant_id(), g.service(), grant_rule{*source, static_cast<std::uint16_t>(g.external_port()), svc.target},
                    TimeUtil::TimestampToMilliseconds(g.opened_at()), TimeUtil::TimestampToMilliseconds(g.expires_at()),
                    0 /* set by the caller, which knows both clocks */, g.opened_by(), g.reason()};
}

void firewall_service::insert_live(live_grant g) {
  const std::string service = g.service;
  deadlines_.emplace(g.deadline_steady_ms, service);
  port_owner_[g.rule.external_port] = service;
  grants_[service] = std::move(g);
}

void firewall_service::erase_live(const std::string& service) {
  auto it = grants_.find(service);
  if (it == grants_.end()) return;
  deadlines_.erase({it->second.deadline_steady_ms, service});
  port_owner_.erase(it->second.rule.external_port);
  grants_.erase(it);
}

std::optional<std::int64_t> firewall_service::next_deadline_ms() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

void firewall_service::expire_due() {
  const std::int64_t now = deps_.steady_ms();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const std::string service = deadlines_.begin()->second;
    if (!close_grant(service, v1::EXPIRED, "system", "expired")) {
      // Logged by persist. The kernel timeout has closed the door already; only the record is
      // late. Retry next time.
      return;
    }
  }
}

std::vector<std::pair<grant_rule, std::chrono::milliseconds>> firewall_service::surviving_rules() const {
  const std::int64_t now = deps_.steady_ms();
  std::vector<std::pair<grant_rule, milliseconds>> out;
  for (const auto& [name, g] : grants_) {
    if (g.deadline_steady_ms > now) out.emplace_back(g.rule, milliseconds(g.deadline_steady_ms - now));
  }
  return out;
}

state_store::snapshot_source firewall_service::snapshot() const {
  return state_store::snapshot_source{
      next_seq_,
      [this](const auto& emit) {
        for (const auto& [name, g] : grants_) emit(g.to_proto());
      },
      [this](const auto& emit) {
        for (const auto& e : events_) emit(e);
      }};
}

void firewall_service::maybe_compact() {
  if (!deps_.store.wants_compaction()) return;
  if (auto r = deps_.store.write_snapshot(snapshot()); !r) log::error("cannot compact the state file: {}", r.error());
}

fallible<void> firewall_service::start() {
  started_at_ms_ = deps_.now_ms();
  auto loaded = deps_.store.load();
  // 0: a journal begun afresh, numbered from the clock (see fresh_journal_seq).
  next_seq_ = loaded.snapshot.next_event_seq() != 0 ? loaded.snapshot.next_event_seq() : fresh_journal_seq(started_at_ms_);
  for (const auto& e : loaded.snapshot.events()) events_.push_back(e);
  std::vector<v1::Event> events;
  if (loaded.corrupt) {
    started_fail_closed_ = true;
    log::error("{}", *loaded.corrupt);
    events.push_back(make_event(v1::STATE_CORRUPT, nullptr, "system", "", *loaded.corrupt, 0));
  }
  const std::int64_t now = deps_.now_ms(), steady_now = deps_.steady_ms();
  // The state file's deadlines are wall-clock times, which a clock step moves. If the table
  // survived (a helper restart, not a reboot), the kernel's own remaining timeouts are the
  // authority: a door it no longer holds has expired, and none outlives its kernel timeout.
  kernel_view prior;
  if (auto listing = run_nft(render_list_table(config_.table), nft_output::json)) {
    if (auto parsed = parse_kernel_view(*listing)) prior = std::move(*parsed);
  }
  for (const auto& record : loaded.snapshot.grants()) {
    const std::int64_t expires = TimeUtil::TimestampToMilliseconds(record.expires_at());
    const auto in_kernel = prior.grant_expires_ms.find({record.source(), static_cast<std::uint16_t>(record.external_port())});
    const bool kernel_dropped = prior.skeleton_intact && in_kernel == prior.grant_expires_ms.end();
    if (expires <= now || kernel_dropped) {
      log::event(log::level::notice, message_id_of(v1::EXPIRED_WHILE_DOWN), door_fields(v1::EXPIRED_WHILE_DOWN, record, "system", ""),
                 fmt::format("the door of '{}' expired while the helper was not running", record.service()));
      // A kernel that lost a door before its deadline: a clock step, or a helper killed in an
      // Open after the records were written and before the kernel had the element (the two
      // halves run at once). Either way the door is closed now, and the detail says why.
      const std::string_view detail = expires > now ? "the kernel did not hold it at start-up, before its deadline: the clock was "
                                                      "stepped, or the helper stopped in the middle of opening it"
                                                    : "";
      events.push_back(make_event(v1::EXPIRED_WHILE_DOWN, &record, "system", "expired while the helper was not running", detail, 0));
      continue;
    }
    // The state file is not trusted: the door must still pass the same policy as an Open, its
    // target comes from the config, and a grant the config no longer allows is closed.
    auto allowed = validate_open(config_, grant_request{record.service(), record.external_port(), record.source(), std::nullopt});
    std::optional<std::string> void_reason;
    if (!allowed) {
      void_reason = allowed.error().message;
    } else if (allowed->service->target.to_string() != record.target()) {
      void_reason = fmt::format("Service '{}' now forwards to {}, not {}.", record.service(), allowed->service->target.to_string(),
                                record.target());
    } else if (grants_.count(record.service()) || port_owner_.count(allowed->external_port)) {
      void_reason = fmt::format("The state file records a second door for service '{}' or port {}.", record.service(),
                                allowed->external_port);
    }
    if (void_reason) {
      log::event(log::level::notice, message_id_of(v1::CLOSED), door_fields(v1::CLOSED, record, "system", *void_reason),
                 fmt::format("closed the recorded door of '{}' at start: {}", record.service(), *void_reason));
      events.push_back(make_event(v1::CLOSED, &record, "system", "no longer allowed by the helper config", *void_reason, 0));
      continue;
    }
    auto g = live_grant::from_proto(record, *allowed->service);
    if (!g) continue;  // cannot happen: validate_open parsed the same fields
    // Its remaining time is bounded by the config's longest door, whatever the file says.
    const std::int64_t remaining = std::min<std::int64_t>(expires - now, std::int64_t{config_.duration_max} * 1000);
    g->deadline_steady_ms = steady_now + remaining;
    if (in_kernel != prior.grant_expires_ms.end() && in_kernel->second < remaining) {
      // The kernel holds a shorter timeout than the file (a shortening Extend whose state write a
      // crash cut off): the kernel closes the door then, so that is the deadline we report too.
      g->deadline_steady_ms = steady_now + in_kernel->second;
      g->expires_ms = now + in_kernel->second;
    }
    insert_live(std::move(*g));
  }
  if (auto r = run_nft(render_table(config_, surviving_rules())); !r) {
    return fail(fmt::format("cannot install the nftables table 'inet {}': {}", config_.table, r.error()));
  }
  if (config_.docker_user_chain) {
    auto listing = run_nft("list chain ip filter DOCKER-USER\n", nft_output::text);
    if (!listing) {
      log::warning("docker_user_chain is set but there is no 'ip filter DOCKER-USER' chain; "
                   "forwarded doors may be dropped by Docker's FORWARD policy.");
    } else if (listing->find(docker_rule_comment) == std::string::npos) {
      if (auto r = run_nft(render_docker_user_accept(config_.ct_mark_bit)); !r) {
        log::warning("cannot add our accept rule to DOCKER-USER: {}", r.error());
      }
    }
  }
  for (auto& e : events) {
    e.set_seq(next_seq_++);
    events_.push_back(std::move(e));
  }
  if (auto r = deps_.store.write_snapshot(snapshot()); !r) return fail(fmt::format("cannot write the state file: {}", r.error()));
  log::info("table 'inet {}' installed with {} live door(s); {} event(s) await acknowledgement", config_.table, grants_.size(),
            events_.size());
  return {};
}

void firewall_service::rebuild_table(std::string_view why, const std::vector<std::string>& doors_to_close) {
  std::vector<v1::Event> events;
  // The kernel lost these doors with the table; they stay closed and the state follows the kernel.
  for (const auto& name : doors_to_close) {
    const live_grant g = grants_.at(name);
    erase_live(name);
    state::JournalRecord closed;
    closed.mutable_closed()->set_service(name);
    closed.mutable_closed()->set_grant_id(g.grant_id);
    if (auto r = deps_.store.append({closed}); !r) log::error("cannot record that '{}' was lost with the table: {}", name, r.error());
    const v1::Grant proto = g.to_proto();
    events.push_back(make_event(v1::CLOSED, &proto, "system", "lost from the kernel (drift, on_drift = report)", std::string(why), 0));
  }
  if (auto r = run_nft(render_table(config_, surviving_rules())); !r) {
    ++counters_.nft_failures;
    log::error("cannot rebuild the table 'inet {}': {}", config_.table, r.error());
    return;
  }
  ++counters_.drift_repairs;
  for (const auto& [name, g] : grants_) {
    const v1::Grant proto = g.to_proto();
    events.push_back(make_event(v1::DRIFT_REPAIRED, &proto, "system", "", std::string(why), 0));
  }
  if (events.empty()) events.push_back(make_event(v1::DRIFT_REPAIRED, nullptr, "system", "", std::string(why), 0));
  log::event(log::level::warning, message_id_of(v1::DRIFT_REPAIRED), {{"SMS_BRIDGE_EVENT", "drift_repaired"}},
             fmt::format("drift: {}; table rebuilt", why));
  record_events(std::move(events));
}

fallible<std::string> firewall_service::run_nft(std::string_view batch, nft_output output) {
  // Measured on the real monotonic clock, not deps_.steady_ms: a figure for operators, never an
  // input to a decision.
  const auto started = std::chrono::steady_clock::now();
  // Every batch that changes the kernel runs without JSON output (only listings ask for it), so
  // anything else may have changed what the last List saw.
  if (output != nft_output::json) list_view_.reset();
  auto result = deps_.nft.run(batch, output);
  nft_latency_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return result;
}

std::size_t firewall_service::revalidate_doors(bool skeleton_changed) {
  // The same policy as an Open and as a restore at start-up, decided before anything is closed.
  std::vector<std::pair<std::string, std::string>> refused;
  for (const auto& [name, g] : grants_) {
    const std::string source = g.rule.source.to_string();
    auto allowed = validate_open(config_, grant_request{name, g.rule.external_port, source, std::nullopt});
    if (!allowed) {
      refused.emplace_back(name, allowed.error().message);
    } else if (allowed->service->target != g.rule.target) {
      refused.emplace_back(name, fmt::format("Service '{}' now forwards to {}, not {}.", name, allowed->service->target.to_string(),
                                             g.rule.target.to_string()));
    }
  }
  std::size_t closed = 0;
  for (const auto& [name, why] : refused) {
    if (close_grant(name, v1::CLOSED, "system", "no longer allowed by the reloaded helper config", nullptr, why)) ++closed;
    log::notice("the reloaded config no longer allows the door of '{}': {}", name, why);
  }
  if (skeleton_changed) {
    if (auto r = run_nft(render_table(config_, surviving_rules())); !r) {
      ++counters_.nft_failures;
      reconcile_wanted_ = true;
      log::error("cannot re-install the table 'inet {}' for the reloaded config: {}", config_.table, r.error());
    }
  }
  return closed;
}

std::vector<held_grant> firewall_service::held_grants() const {
  const std::int64_t now = deps_.steady_ms();
  std::vector<held_grant> held;
  held.reserve(grants_.size());
  for (const auto& [name, g] : grants_) held.push_back(held_grant{name, g.rule, g.deadline_steady_ms - now});
  return held;
}

void firewall_service::reconcile() {
  auto listing = run_nft(render_list_table(config_.table), nft_output::json);
  kernel_view view;
  if (listing) {
    auto parsed = parse_kernel_view(*listing);
    if (!parsed) {
      log::error("reconcile: {}", parsed.error());
      return;
    }
    view = std::move(*parsed);
  } else if (listing.error().message.find("No such file or directory") == std::string::npos) {
    log::error("reconcile: cannot list the table: {}", listing.error());
    return;
  }
  const reconcile_plan plan = plan_reconcile(view, held_grants(), config_.on_drift, config_.table, expiry_slack_ms);
  if (plan.rebuild_because) {
    rebuild_table(*plan.rebuild_because, plan.doors_to_close);
    return;
  }
  const std::int64_t now = deps_.steady_ms();
  std::vector<v1::Event> events;
  for (const auto& stray : plan.elements_to_delete) {
    if (auto r = run_nft(render_delete_element(config_.table, stray.source, stray.external_port)); !r) {
      log::error("reconcile: cannot delete {} . {}: {}", stray.source_text, stray.external_port, r.error());
      continue;
    }
    deps_.cutter.cut(stray.source, stray.external_port);
    v1::Grant unknown;
    unknown.set_source(stray.source_text);
    unknown.set_external_port(stray.external_port);
    std::string detail = fmt::format("the kernel held a grant for {} to port {} that the helper did not issue; deleted",
                                     stray.source_text, stray.external_port);
    log::event(log::level::warning, message_id_of(v1::DRIFT_REMOVED), door_fields(v1::DRIFT_REMOVED, unknown, "system", ""),
               fmt::format("drift: {}", detail));
    events.push_back(make_event(v1::DRIFT_REMOVED, &unknown, "system", "", detail, 0));
  }
  for (const auto& stray : plan.forwards_to_delete) {
    if (run_nft(render_delete_map_entry(config_.table, stray.family, stray.external_port))) {
      v1::Grant unknown;
      unknown.set_external_port(stray.external_port);
      unknown.set_target(stray.target);
      std::string detail = fmt::format("the kernel forwarded port {} to {} without a grant; deleted", stray.external_port, stray.target);
      log::event(log::level::warning, message_id_of(v1::DRIFT_REMOVED), door_fields(v1::DRIFT_REMOVED, unknown, "system", ""),
                 fmt::format("drift: {}", detail));
      events.push_back(make_event(v1::DRIFT_REMOVED, &unknown, "system", "", detail, 0));
    } else {
      log::error("reconcile: cannot delete the forward of port {} to {}", stray.external_port, stray.target);
    }
  }
  for (const auto& lost : plan.doors_to_reapply) {
    const live_grant& g = grants_.at(lost.service);
    std::string batch;
    if (lost.wrong_forward) batch += render_delete_map_entry(config_.table, g.rule.target.address.family, g.rule.external_port);
    if (lost.element_present) batch += render_delete_grant(config_.table, g.rule, false);
    batch += render_add_grant(config_.table, g.rule, milliseconds(g.deadline_steady_ms - now));
    if (auto r = run_nft(batch); !r) {
      ++counters_.nft_failures;
      log::error("reconcile: cannot re-apply '{}': {}", lost.service, r.error());
      continue;
    }
    ++counters_.drift_repairs;
    const v1::Grant proto = g.to_proto();
    std::string detail = fmt::format("the kernel lost the {} of '{}'; re-applied", lost.element_present ? "forward" : "grant", lost.service);
    log::event(log::level::warning, message_id_of(v1::DRIFT_REPAIRED), door_fields(v1::DRIFT_REPAIRED, proto, "system", ""),
               fmt::format("drift: {}", detail));
    events.push_back(make_event(v1::DRIFT_REPAIRED, &proto, "system", "", detail, 0));
  }
  (void)repair_timeouts(plan.timeouts_to_repair, events);
  record_events(std::move(events));
  for (const auto& name : plan.doors_to_close) {
    // A failure to record it was logged by persist.
    (void)close_grant(name, v1::CLOSED, "system", "lost from the kernel (drift, on_drift = report)");
  }
}

void firewall_service::shutdown() {
  if (config_.on_shutdown == shutdown_policy::close) {
    std::vector<std::string> services;
    for (const auto& [name, g] : grants_) services.push_back(name);
    for (const auto& name : services) {
      (void)close_grant(name, v1::SHUTDOWN_CLOSED, "system-shutdown", "the helper was stopped");  // a failure: logged by persist
    }
  }
  if (auto r = deps_.store.write_snapshot(snapshot()); !r) log::error("cannot write the final state file: {}", r.error());
  log::info("stopped with {} live door(s) left to their kernel timeouts", grants_.size());
}

}  // namespace smsbridge::firewall
