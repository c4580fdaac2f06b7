// The reconciler's decisions: given what the kernel holds and what the state says is open, which
// elements to delete, which doors to re-apply and which to close (DESIGN.md §4.4). Pure: the
// caller lists the table, renders the batches, runs them and records the events.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "firewall-helper/config.hpp"
#include "firewall-helper/ruleset.hpp"
#include "proto/net_types.hpp"

namespace smsbridge::firewall {

// A door the state holds, as the reconciler needs it.
struct held_grant {
  std::string service;
  grant_rule rule;
  std::int64_t remaining_ms = 0;  // until its deadline, on the monotonic clock
};

// A set element the kernel holds that no held door accounts for: a leak or tampering.
struct stray_element {
  cidr source;
  std::string source_text;  // as the kernel listed it
  std::uint16_t external_port = 0;
};

// A forward map entry for a port no held door uses.
struct stray_forward {
  std::uint16_t external_port = 0;
  std::string target;  // as the kernel listed it, "ADDR:PORT" or "[ADDR]:PORT"
  ip_family family = ip_family::v4;
};

// A held door that lost its element or its forward (or whose forward now leads elsewhere).
struct lost_door {
  std::string service;
  bool element_present = false;  // the element survived (delete it before re-adding)
  bool wrong_forward = false;    // the port's forward leads to another target (delete it first)
};

// A held door whose element the kernel still holds, but with a timeout that disagrees with the
// door's deadline by more than drift_tolerance_ms: someone changed it behind the helper's back,
// or a renewal was lost. Its element is renewed with the time the door has left.
struct drifted_timeout {
  std::string service;
  std::int64_t kernel_ms = 0;  // the kernel's remaining time (whole seconds as listed, × 1000)
  std::int64_t held_ms = 0;    // the door's remaining time by the helper's deadline
};

// More than this between the kernel's remaining timeout and the deadline is drift. The kernel
// lists whole seconds (rounded down), so the comparison allows for that second as well.
inline constexpr std::int64_t drift_tolerance_ms = 2000;

struct reconcile_plan {
  // Set when the table is missing or damaged: the whole table is re-rendered (with every held
  // door under on_drift = repair) and the rest of the plan is empty but for doors_to_close.
  std::optional<std::string> rebuild_because;
  std::vector<stray_element> elements_to_delete;
  std::vector<stray_forward> forwards_to_delete;
  std::vector<lost_door> doors_to_reapply;  // on_drift = repair
  // Under either on_drift policy: the door is still there, only its deadline moved, and the
  // deadline the helper holds is the one an admin set.
  std::vector<drifted_timeout> timeouts_to_repair;
  std::vector<std::string> doors_to_close;  // on_drift = report: the state follows the kernel
};

// Whether the plan changes anything but timeouts (List then leaves those to reconcile()).
inline bool needs_structural_repair(const reconcile_plan& plan) {
  return plan.rebuild_because || !plan.elements_to_delete.empty() || !plan.forwards_to_delete.empty() ||
         !plan.doors_to_reapply.empty() || !plan.doors_to_close.empty();
}

// Decides the repairs. A door within `expiry_slack_ms` of its deadline is left to the expiry timer
// (its element may already be gone). Cannot fail: a stray element whose source does not parse is
// left alone (the kernel listed it, so it cannot be one of ours).
reconcile_plan plan_reconcile(const kernel_view& kernel, const std::vector<held_grant>& held, drift_policy policy,
                              std::string_view table, std::int64_t expiry_slack_ms);

}  // namespace smsbridge::firewall
