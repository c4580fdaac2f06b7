// nft command text rendered from typed, validated values, and the parse of the kernel's listing. No I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

#include "firewall-helper/config.hpp"
#include "proto/net_types.hpp"

namespace smsbridge::firewall {

// What the kernel must hold for one live grant.
struct grant_rule {
  cidr source;
  std::uint16_t external_port = 0;
  endpoint target;
};

// Replaces our table in one transaction: "add table" + "delete table" + the full definition, so it
// works whether or not the table exists and there is no moment without rules. Each grant in
// `grants` is re-added in the same batch with its remaining lifetime (must be > 0).
std::string render_table(const helper_config& config,
                         const std::vector<std::pair<grant_rule, std::chrono::milliseconds>>& grants);

// Whether two configs render the same table apart from its grants (same chains, marks and
// masquerade targets): if not, a reloaded config needs the table re-installed.
bool same_skeleton(const helper_config& a, const helper_config& b);

// One grant: the map entry (a no-op if present with the same target) and the set element with a timeout.
std::string render_add_grant(std::string_view table, const grant_rule& g, std::chrono::milliseconds timeout);

// Deletes the grant element, and the map entry when with_map_entry.
std::string render_delete_grant(std::string_view table, const grant_rule& g, bool with_map_entry);

// Deletes only the map entry for a port (after the kernel already expired the element).
std::string render_delete_map_entry(std::string_view table, ip_family target_family, std::uint16_t port);

// Deletes a set element seen in the kernel, given by its family, source and port.
std::string render_delete_element(std::string_view table, const cidr& source, std::uint16_t port);

// Lists the whole table (use with JSON output).
std::string render_list_table(std::string_view table);

// Adds an accept for our packet mark to Docker's DOCKER-USER chain (ip filter), in a form iptables-nft
// reads, tagged so it is added once.
std::string render_docker_user_accept(std::uint32_t mark_bit);
inline constexpr std::string_view docker_rule_comment = "sms-bridge-firewall-helper";

// What the kernel holds, read from `nft -j list table`.
struct kernel_view {
  bool table_present = false;
  bool skeleton_intact = false;  // every chain, set and map of render_table is there, with its rules
  std::set<std::pair<std::string, std::uint16_t>> grants;  // canonical CIDR text, external port
  // The same elements' remaining time, from the kernel's "expires" (whole seconds, rounded down;
  // stored as the upper bound, seconds × 1000 + 999 ms).
  std::map<std::pair<std::string, std::uint16_t>, std::int64_t> grant_expires_ms;
  std::map<std::uint16_t, std::string> forwards;          // external port -> target "ADDR:PORT"
};

// Parses libnftables JSON output of render_list_table. An empty text means the table is absent.
fallible<kernel_view> parse_kernel_view(std::string_view json_text);

// nft's time syntax for a duration in milliseconds, e.g. "3s500ms".
std::string render_timeout(std::chrono::milliseconds ms);

}  // namespace smsbridge::firewall
