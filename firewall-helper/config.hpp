// The helper's own configuration: what it will ever forward, to where, for whom and for how long.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

#include "proto/net_types.hpp"

namespace smsbridge::firewall {

struct service_config {
  std::string name;
  endpoint target;
  bool masquerade = false;  // SNAT to this host: for targets whose replies would not route back through it
};

enum class shutdown_policy { close, keep };
enum class drift_policy { repair, report };

struct helper_config {
  std::string socket_path = "/run/sms-bridge/firewall.sock";
  unsigned socket_mode = 0660;
  std::vector<uid_t> allowed_uids{0};  // the helper's own uid is always allowed as well
  std::vector<gid_t> allowed_gids;
  std::string state_file = "/var/lib/sms-bridge-firewall/port_mappings.json";
  std::string table = "sms_bridge";
  std::uint32_t ct_mark_bit = 0x00100000;
  std::map<std::string, service_config> services;
  std::uint16_t port_min = 1024;
  std::uint16_t port_max = 65535;
  std::set<std::uint16_t> forbidden_ports{22, 8080};
  std::uint32_t duration_min = 900;
  std::uint32_t duration_max = 14400;
  bool allow_any_source = false;
  // The widest source a door may have without allow_any_source: a /8 is 16 million addresses,
  // nobody's laptop; a /16 is a large campus. For IPv6 a /48 is one site's allocation.
  unsigned min_source_prefix_v4 = 16;
  unsigned min_source_prefix_v6 = 48;
  shutdown_policy on_shutdown = shutdown_policy::close;
  drift_policy on_drift = drift_policy::repair;
  bool docker_user_chain = false;
  unsigned max_clients = 16;
  unsigned client_timeout_seconds = 10;
  unsigned reconcile_interval_seconds = 30;
  unsigned max_grants = 1024;
  unsigned max_pending_events = 10000;
  std::string digest;  // sha256 of the file's bytes, hex

  const service_config* find_service(std::string_view name) const;
};

// One sentence naming the key and what is wrong with it.
template <class T>
using config_result = fallible<T>;

// Parses and validates the JSON text of a config file. Every key has a default; unknown keys are
// refused so that a typo cannot silently fall back to a default.
config_result<helper_config> parse_config(std::string_view json_text);

// Reads PATH (at most 1 MiB) and parses it; the error names the file.
config_result<helper_config> load_config(const std::string& path);

// Why `source` may not be a door's source under `c` (wider than min_source_prefix_v4/_v6 and
// allow_any_source not set), as a sentence for the admin; nullopt if it may.
std::optional<std::string> source_refusal(const helper_config& c, const cidr& source);

// Why a running helper cannot take `next` in place of `running` when it reloads (SIGHUP): a key
// only a restart can change, because the socket, the state file, the table and its conntrack mark
// are already in use. A sentence naming the key; nullopt if `next` can be applied in place.
std::optional<std::string> reload_refusal(const helper_config& running, const helper_config& next);

// True for names usable as a service or table name: [a-z][a-z0-9_-]{0,31} ('-' not in tables).
bool is_valid_service_name(std::string_view name);
bool is_valid_table_name(std::string_view name);

}  // namespace smsbridge::firewall
