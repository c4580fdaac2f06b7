// The reconciler's pure decisions, from the kernel's view and the helper's held doors.
#include "firewall-helper/reconciler.hpp"

#include <map>

#include <fmt/format.h>

namespace smsbridge::firewall {

reconcile_plan plan_reconcile(const kernel_view& kernel, const std::vector<held_grant>& held, drift_policy policy,
                              std::string_view table, std::int64_t expiry_slack_ms) {
  reconcile_plan plan;
  if (!kernel.skeleton_intact) {
    plan.rebuild_because = kernel.table_present ? fmt::format("the table 'inet {}' was damaged", table)
                                                : fmt::format("the table 'inet {}' was missing", table);
    // Report: the doors the kernel lost stay closed; the state follows the kernel.
    if (policy == drift_policy::report) {
      for (const auto& g : held) plan.doors_to_close.push_back(g.service);
    }
    return plan;
  }
  std::map<std::uint16_t, const held_grant*> by_port;
  for (const auto& g : held) by_port[g.rule.external_port] = &g;

  for (const auto& [source_text, port] : kernel.grants) {
    auto owner = by_port.find(port);
    if (owner != by_port.end() && owner->second->rule.source.to_string() == source_text) continue;
    auto source = parse_cidr(source_text);
    if (!source) continue;
    plan.elements_to_delete.push_back(stray_element{*source, source_text, port});
  }
  for (const auto& [port, target] : kernel.forwards) {
    if (by_port.count(port)) continue;
    plan.forwards_to_delete.push_back(stray_forward{port, target, !target.empty() && target.front() == '[' ? ip_family::v6 : ip_family::v4});
  }
  for (const auto& g : held) {
    if (g.remaining_ms <= expiry_slack_ms) continue;  // the expiry timer's job
    const bool element = kernel.grants.count({g.rule.source.to_string(), g.rule.external_port}) > 0;
    auto fwd = kernel.forwards.find(g.rule.external_port);
    const bool forward = fwd != kernel.forwards.end() && fwd->second == g.rule.target.to_string();
    if (element && forward) {
      // The kernel lists whole seconds rounded down: its true remaining time is in
      // [listed, listed + 1 s). Drift is a deadline outside that second widened by the tolerance.
      auto expires = kernel.grant_expires_ms.find({g.rule.source.to_string(), g.rule.external_port});
      if (expires == kernel.grant_expires_ms.end()) continue;  // no timeout listed: nothing to compare
      const std::int64_t upper = expires->second, lower = upper - 999;
      if (g.remaining_ms > upper + drift_tolerance_ms || g.remaining_ms < lower - drift_tolerance_ms) {
        plan.timeouts_to_repair.push_back(drifted_timeout{g.service, lower, g.remaining_ms});
      }
      continue;
    }
    if (policy == drift_policy::report) {
      plan.doors_to_close.push_back(g.service);
    } else {
      plan.doors_to_reapply.push_back(lost_door{g.service, element, fwd != kernel.forwards.end() && !forward});
    }
  }
  return plan;
}

}  // namespace smsbridge::firewall
