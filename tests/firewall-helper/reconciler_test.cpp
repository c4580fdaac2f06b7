// The reconciler's decisions: what it deletes, re-applies and closes for each kind of drift.
#include <catch2/catch.hpp>

#include <set>

#include "firewall-helper/reconciler.hpp"

using namespace smsbridge;
using namespace smsbridge::firewall;

namespace {
held_grant held(const std::string& service, const std::string& source, std::uint16_t port, const std::string& target,
                std::int64_t remaining_ms = 60000) {
  return held_grant{service, grant_rule{*parse_cidr(source), port, *parse_endpoint(target)}, remaining_ms};
}

// An intact table holding exactly `doors`.
kernel_view intact_with(const std::vector<held_grant>& doors) {
  kernel_view k;
  k.table_present = k.skeleton_intact = true;
  for (const auto& d : doors) {
    k.grants.insert({d.rule.source.to_string(), d.rule.external_port});
    k.forwards[d.rule.external_port] = d.rule.target.to_string();
  }
  return k;
}

constexpr std::int64_t slack = 1000;
}  // namespace

TEST_CASE("a kernel that matches the state needs nothing") {
  const std::vector<held_grant> doors{held("metrics", "10.0.0.2", 9100, "127.0.0.1:8080"),
                                      held("pg", "10.1.0.0/24", 5433, "10.9.0.2:5432")};
  const auto plan = plan_reconcile(intact_with(doors), doors, drift_policy::repair, "sms_bridge", slack);
  CHECK_FALSE(plan.rebuild_because);
  CHECK(plan.elements_to_delete.empty());
  CHECK(plan.forwards_to_delete.empty());
  CHECK(plan.doors_to_reapply.empty());
  CHECK(plan.doors_to_close.empty());
}

TEST_CASE("a missing table is rebuilt; under report its doors are closed, under repair kept") {
  const std::vector<held_grant> doors{held("metrics", "10.0.0.2", 9100, "127.0.0.1:8080")};
  kernel_view gone;
  auto plan = plan_reconcile(gone, doors, drift_policy::repair, "sms_bridge", slack);
  CHECK(plan.rebuild_because == std::optional<std::string>("the table 'inet sms_bridge' was missing"));
  CHECK(plan.doors_to_close.empty());
  plan = plan_reconcile(gone, doors, drift_policy::report, "sms_bridge", slack);
  CHECK(plan.doors_to_close == std::vector<std::string>{"metrics"});
  kernel_view damaged;
  damaged.table_present = true;
  plan = plan_reconcile(damaged, doors, drift_policy::repair, "sms_bridge", slack);
  CHECK(plan.rebuild_because == std::optional<std::string>("the table 'inet sms_bridge' was damaged"));
  CHECK(plan.elements_to_delete.empty());
}

TEST_CASE("elements and forwards the helper did not issue are deleted") {
  const std::vector<held_grant> doors{held("metrics", "10.0.0.2", 9100, "127.0.0.1:8080")};
  auto k = intact_with(doors);
  k.grants.insert({"10.250.2.2/32", 9101});   // a port nobody holds
  k.grants.insert({"10.0.0.3/32", 9100});     // our port, another source
  k.grants.insert({"fd00:1::/64", 9102});
  k.forwards[9102] = "[fd00::5]:443";
  const auto plan = plan_reconcile(k, doors, drift_policy::repair, "sms_bridge", slack);
  REQUIRE(plan.elements_to_delete.size() == 3);
  std::set<std::pair<std::string, std::uint16_t>> deleted;
  for (const auto& e : plan.elements_to_delete) {
    CHECK(e.source.to_string() == e.source_text);
    deleted.insert({e.source_text, e.external_port});
  }
  CHECK(deleted == std::set<std::pair<std::string, std::uint16_t>>{{"10.250.2.2/32", 9101}, {"10.0.0.3/32", 9100}, {"fd00:1::/64", 9102}});
  REQUIRE(plan.forwards_to_delete.size() == 1);
  CHECK(plan.forwards_to_delete[0].external_port == 9102);
  CHECK(plan.forwards_to_delete[0].family == ip_family::v6);
  CHECK(plan.doors_to_reapply.empty());
}

TEST_CASE("a door that lost its element or its forward is re-applied under repair") {
  const std::vector<held_grant> doors{held("metrics", "10.0.0.2", 9100, "127.0.0.1:8080"),
                                      held("pg", "10.1.0.0/24", 5433, "10.9.0.2:5432"),
                                      held("redis", "10.0.0.9", 6380, "10.9.0.3:6379")};
  auto k = intact_with(doors);
  k.grants.erase({"10.0.0.2/32", 9100});  // metrics: element gone
  k.forwards.erase(5433);                 // pg: forward gone
  k.forwards[6380] = "10.66.6.6:22";      // redis: forward leads elsewhere
  const auto plan = plan_reconcile(k, doors, drift_policy::repair, "sms_bridge", slack);
  REQUIRE(plan.doors_to_reapply.size() == 3);
  CHECK(plan.doors_to_reapply[0].service == "metrics");
  CHECK_FALSE(plan.doors_to_reapply[0].element_present);
  CHECK_FALSE(plan.doors_to_reapply[0].wrong_forward);
  CHECK(plan.doors_to_reapply[1].service == "pg");
  CHECK(plan.doors_to_reapply[1].element_present);
  CHECK_FALSE(plan.doors_to_reapply[1].wrong_forward);
  CHECK(plan.doors_to_reapply[2].service == "redis");
  CHECK(plan.doors_to_reapply[2].element_present);
  CHECK(plan.doors_to_reapply[2].wrong_forward);
  CHECK(plan.forwards_to_delete.empty());  // redis's wrong forward is replaced as part of its repair
  CHECK(plan.doors_to_close.empty());
}

TEST_CASE("under report a door the kernel lost is closed, not re-applied") {
  const std::vector<held_grant> doors{held("metrics", "10.0.0.2", 9100, "127.0.0.1:8080")};
  auto k = intact_with(doors);
  k.grants.clear();
  const auto plan = plan_reconcile(k, doors, drift_policy::report, "sms_bridge", slack);
  CHECK(plan.doors_to_reapply.empty());
  CHECK(plan.doors_to_close == std::vector<std::string>{"metrics"});
}

TEST_CASE("a door about to expire is left to the expiry timer") {
  const std::vector<held_grant> doors{held("metrics", "10.0.0.2", 9100, "127.0.0.1:8080", slack)};
  auto k = intact_with(doors);
  k.grants.clear();
  k.forwards.clear();
  for (auto policy : {drift_policy::repair, drift_policy::report}) {
    const auto plan = plan_reconcile(k, doors, policy, "sms_bridge", slack);
    CHECK(plan.doors_to_reapply.empty());
    CHECK(plan.doors_to_close.empty());
  }
}

TEST_CASE("a kernel timeout more than 2 s off the deadline is drift, under either policy; the listed second is allowed for") {
  const std::vector<held_grant> doors{held("metrics", "10.0.0.2", 9100, "127.0.0.1:8080", 60000)};
  kernel_view k = intact_with(doors);
  const std::pair<std::string, std::uint16_t> key{"10.0.0.2/32", 9100};
  // Listed as 58 s: the true time left is 58 to 59 s, within 2 s of 60 s.
  k.grant_expires_ms[key] = 58 * 1000 + 999;
  CHECK(plan_reconcile(k, doors, drift_policy::repair, "sms_bridge", slack).timeouts_to_repair.empty());
  // Listed as 57 s: at most 57.999 s left, more than 2 s short.
  k.grant_expires_ms[key] = 57 * 1000 + 999;
  for (auto policy : {drift_policy::repair, drift_policy::report}) {
    const auto plan = plan_reconcile(k, doors, policy, "sms_bridge", slack);
    REQUIRE(plan.timeouts_to_repair.size() == 1);
    CHECK(plan.timeouts_to_repair[0].service == "metrics");
    CHECK(plan.timeouts_to_repair[0].kernel_ms == 57000);
    CHECK(plan.timeouts_to_repair[0].held_ms == 60000);
    CHECK(plan.doors_to_close.empty());
    CHECK_FALSE(needs_structural_repair(plan));
  }
  // Too long is drift as well: listed 63 s, at least 63 s left.
  k.grant_expires_ms[key] = 63 * 1000 + 999;
  CHECK(plan_reconcile(k, doors, drift_policy::repair, "sms_bridge", slack).timeouts_to_repair.size() == 1);
  k.grant_expires_ms[key] = 62 * 1000 + 999;
  CHECK(plan_reconcile(k, doors, drift_policy::repair, "sms_bridge", slack).timeouts_to_repair.empty());
  // A door about to expire is the expiry timer's, whatever its timeout says.
  const std::vector<held_grant> ending{held("metrics", "10.0.0.2", 9100, "127.0.0.1:8080", 900)};
  k.grant_expires_ms[key] = 30 * 1000 + 999;
  CHECK(plan_reconcile(k, ending, drift_policy::repair, "sms_bridge", slack).timeouts_to_repair.empty());
}
