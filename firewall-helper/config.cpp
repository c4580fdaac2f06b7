// Parsing and validation of the helper config: JSON text -> helper_config, one sentence per error.
#include "firewall-helper/config.hpp"

#include <grp.h>
#include <pwd.h>

#include <cmath>
#include <optional>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "firewall-helper/sha256.hpp"

namespace smsbridge::firewall {

namespace {
using google::protobuf::Struct;
using google::protobuf::Value;

constexpr std::size_t max_config_bytes = 1 << 20;
constexpr std::size_t max_services = 100000;

// Each reader fails with a sentence that names the key path.
config_result<std::uint64_t> read_uint(const Value& v, std::string_view key, std::uint64_t min, std::uint64_t max) {
  if (v.kind_case() != Value::kNumberValue || v.number_value() != std::floor(v.number_value()) ||
      v.number_value() < static_cast<double>(min) || v.number_value() > static_cast<double>(max)) {
    return fail(fmt::format("config key '{}' must be a whole number from {} to {}.", key, min, max));
  }
  return static_cast<std::uint64_t>(v.number_value());
}

config_result<bool> read_bool(const Value& v, std::string_view key) {
  if (v.kind_case() != Value::kBoolValue) return fail(fmt::format("config key '{}' must be true or false.", key));
  return v.bool_value();
}

config_result<std::string> read_string(const Value& v, std::string_view key, std::size_t max_len = 4096) {
  if (v.kind_case() != Value::kStringValue || v.string_value().empty() || v.string_value().size() > max_len) {
    return fail(fmt::format("config key '{}' must be a non-empty string of at most {} characters.", key, max_len));
  }
  return v.string_value();
}

config_result<const Struct*> read_object(const Value& v, std::string_view key) {
  if (v.kind_case() != Value::kStructValue) return fail(fmt::format("config key '{}' must be an object.", key));
  return &v.struct_value();
}

// A number, or a string in C notation ("0x00100000", "0660").
config_result<std::uint64_t> read_c_number(const Value& v, std::string_view key, int base, std::uint64_t max) {
  if (v.kind_case() == Value::kNumberValue) return read_uint(v, key, 0, max);
  if (v.kind_case() == Value::kStringValue && !v.string_value().empty() && v.string_value().size() < 20) {
    const std::string& s = v.string_value();
    std::size_t used = 0;
    try {
      const auto n = std::stoull(s, &used, base);
      if (used == s.size() && n <= max) return n;
    } catch (const std::exception&) {
    }
  }
  return fail(fmt::format("config key '{}' must be a number{}.", key, base == 8 ? " written in octal, such as \"0660\"" : " (or a \"0x...\" string)"));
}

// A user or group id given by number or by name. Names are looked up once, at load, so a unit
// file can say "sms-bridge" where sysusers.d picked the number.
std::optional<std::uint64_t> lookup_id(const std::string& name, bool user) {
  std::vector<char> buffer(16384);
  if (user) {
    passwd entry{}, *found = nullptr;
    if (::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) return std::nullopt;
    return found->pw_uid;
  }
  group entry{}, *found = nullptr;
  if (::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) return std::nullopt;
  return found->gr_gid;
}

template <typename T>
config_result<std::vector<T>> read_id_list(const Value& v, std::string_view key, bool users) {
  if (v.kind_case() != Value::kListValue || v.list_value().values_size() > 256) {
    return fail(fmt::format("config key '{}' must be a list of at most 256 ids or names.", key));
  }
  std::vector<T> out;
  for (const auto& item : v.list_value().values()) {
    if (item.kind_case() == Value::kStringValue) {
      const auto id = lookup_id(item.string_value(), users);
      if (!id) {
        return fail(fmt::format("config key '{}': there is no {} named '{}' on this machine.", key,
                                users ? "user" : "group", item.string_value().substr(0, 64)));
      }
      out.push_back(static_cast<T>(*id));
      continue;
    }
    auto id = read_uint(item, key, 0, 4294967294u);
    if (!id) return id.error();
    out.push_back(static_cast<T>(*id));
  }
  return out;
}

config_result<void> check_keys(const Struct& s, std::string_view where, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : s.fields()) {
    bool ok = false;
    for (auto k : known) ok = ok || key == k;
    if (!ok) return fail(fmt::format("unknown config key '{}{}'; check its spelling.", where, key));
  }
  return {};
}

#define SMSB_TRY(var, expr)          \
  auto var##_r = (expr);             \
  if (!var##_r) return var##_r.error(); \
  auto var = *var##_r

config_result<void> read_services(const Struct& s, helper_config& c) {
  if (static_cast<std::size_t>(s.fields_size()) > max_services) return fail("config key 'services' has too many entries.");
  for (const auto& [name, value] : s.fields()) {
    const std::string where = "services." + name;
    if (!is_valid_service_name(name)) {
      return fail(fmt::format("service name '{}' is invalid: use 1 to 32 of a-z, 0-9, '_' and '-', starting with a letter.", name));
    }
    SMSB_TRY(obj, read_object(value, where));
    if (auto k = check_keys(*obj, where + ".", {"target", "masquerade"}); !k) return k.error();
    service_config svc{name, {}, false};
    auto target = obj->fields().find("target");
    if (target == obj->fields().end()) return fail(fmt::format("config key '{}.target' is required (\"ADDR:PORT\").", where));
    SMSB_TRY(text, read_string(target->second, where + ".target", 64));
    auto ep = parse_endpoint(text);
    if (!ep) return fail(fmt::format("config key '{}.target': {}", where, ep.error()));
    if (ep->address.is_unspecified()) return fail(fmt::format("config key '{}.target' must not be an unspecified address.", where));
    if (ep->address.family == ip_family::v6 && ep->address.is_loopback()) {
      return fail(fmt::format("config key '{}.target': the kernel cannot forward to ::1; use 127.0.0.1 or an interface address.", where));
    }
    svc.target = *ep;
    if (auto m = obj->fields().find("masquerade"); m != obj->fields().end()) {
      SMSB_TRY(masq, read_bool(m->second, where + ".masquerade"));
      svc.masquerade = masq;
    }
    c.services.emplace(name, std::move(svc));
  }
  return {};
}
}  // namespace

const service_config* helper_config::find_service(std::string_view name) const {
  auto it = services.find(std::string(name));
  return it == services.end() ? nullptr : &it->second;
}

bool is_valid_service_name(std::string_view name) {
  if (name.empty() || name.size() > 32 || name[0] < 'a' || name[0] > 'z') return false;
  for (char ch : name)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')) return false;
  return true;
}

bool is_valid_table_name(std::string_view name) {
  return is_valid_service_name(name) && name.find('-') == std::string_view::npos;
}

config_result<helper_config> parse_config(std::string_view json_text) {
  if (json_text.size() > max_config_bytes) return fail("the config is larger than 1 MiB.");
  Struct root;
  google::protobuf::util::JsonParseOptions options;
  if (auto st = google::protobuf::util::JsonStringToMessage(std::string(json_text), &root, options); !st.ok()) {
    return fail(fmt::format("the config is not a valid JSON object ({}).", std::string(st.message())));
  }
  auto known = check_keys(root, "", {"socket", "socket_mode", "allowed_uids", "allowed_gids", "state_file", "table",
                                     "ct_mark_bit", "services", "external_ports", "duration_seconds",
                                     "allow_any_source", "min_source_prefix_v4", "min_source_prefix_v6", "on_shutdown", "on_drift", "docker_user_chain", "max_clients",
                                     "client_timeout_seconds", "reconcile_interval_seconds", "max_grants",
                                     "max_pending_events"});
  if (!known) return known.error();

  helper_config c;
  c.digest = sha256_hex(json_text);
  const auto& f = root.fields();
  auto get = [&](const char* key) -> const Value* {
    auto it = f.find(key);
    return it == f.end() ? nullptr : &it->second;
  };

  if (auto v = get("socket")) { SMSB_TRY(s, read_string(*v, "socket", 107)); c.socket_path = s; }
  if (auto v = get("socket_mode")) {
    SMSB_TRY(mode, read_c_number(*v, "socket_mode", 8, 0777));
    c.socket_mode = static_cast<unsigned>(mode);
  }
  if (auto v = get("allowed_uids")) { SMSB_TRY(ids, read_id_list<uid_t>(*v, "allowed_uids", true)); c.allowed_uids = ids; }
  if (auto v = get("allowed_gids")) { SMSB_TRY(ids, read_id_list<gid_t>(*v, "allowed_gids", false)); c.allowed_gids = ids; }
  if (auto v = get("state_file")) { SMSB_TRY(s, read_string(*v, "state_file", 1024)); c.state_file = s; }
  if (auto v = get("table")) {
    SMSB_TRY(s, read_string(*v, "table", 32));
    if (!is_valid_table_name(s)) return fail(fmt::format("config key 'table': '{}' is not a valid table name (a-z, 0-9, '_').", s));
    c.table = s;
  }
  if (auto v = get("ct_mark_bit")) {
    SMSB_TRY(bit, read_c_number(*v, "ct_mark_bit", 0, 0xffffffffu));
    if (bit == 0 || (bit & (bit - 1)) != 0) return fail("config key 'ct_mark_bit' must have exactly one bit set, such as \"0x00100000\".");
    c.ct_mark_bit = static_cast<std::uint32_t>(bit);
  }
  if (auto v = get("services")) {
    SMSB_TRY(obj, read_object(*v, "services"));
    if (auto r = read_services(*obj, c); !r) return r.error();
  }
  if (auto v = get("external_ports")) {
    SMSB_TRY(obj, read_object(*v, "external_ports"));
    if (auto k = check_keys(*obj, "external_ports.", {"min", "max", "forbidden"}); !k) return k.error();
    const auto& ef = obj->fields();
    if (auto it = ef.find("min"); it != ef.end()) { SMSB_TRY(n, read_uint(it->second, "external_ports.min", 1, 65535)); c.port_min = static_cast<std::uint16_t>(n); }
    if (auto it = ef.find("max"); it != ef.end()) { SMSB_TRY(n, read_uint(it->second, "external_ports.max", 1, 65535)); c.port_max = static_cast<std::uint16_t>(n); }
    if (auto it = ef.find("forbidden"); it != ef.end()) {
      if (it->second.kind_case() != Value::kListValue || it->second.list_value().values_size() > 1024) {
        return fail("config key 'external_ports.forbidden' must be a list of at most 1024 ports.");
      }
      c.forbidden_ports.clear();
      for (const auto& p : it->second.list_value().values()) {
        SMSB_TRY(n, read_uint(p, "external_ports.forbidden", 1, 65535));
        c.forbidden_ports.insert(static_cast<std::uint16_t>(n));
      }
    }
    if (c.port_min > c.port_max) return fail("config key 'external_ports': min is greater than max.");
  }
  if (auto v = get("duration_seconds")) {
    SMSB_TRY(obj, read_object(*v, "duration_seconds"));
    if (auto k = check_keys(*obj, "duration_seconds.", {"min", "max"}); !k) return k.error();
    const auto& df = obj->fields();
    // A grant of 0 s would never expire in nftables, so 1 s is the floor; 7 days the ceiling.
    if (auto it = df.find("min"); it != df.end()) { SMSB_TRY(n, read_uint(it->second, "duration_seconds.min", 1, 604800)); c.duration_min = static_cast<std::uint32_t>(n); }
    if (auto it = df.find("max"); it != df.end()) { SMSB_TRY(n, read_uint(it->second, "duration_seconds.max", 1, 604800)); c.duration_max = static_cast<std::uint32_t>(n); }
    if (c.duration_min > c.duration_max) return fail("config key 'duration_seconds': min is greater than max.");
  }
  if (auto v = get("allow_any_source")) { SMSB_TRY(b, read_bool(*v, "allow_any_source")); c.allow_any_source = b; }
  if (auto v = get("min_source_prefix_v4")) { SMSB_TRY(n, read_uint(*v, "min_source_prefix_v4", 1, 32)); c.min_source_prefix_v4 = static_cast<unsigned>(n); }
  if (auto v = get("min_source_prefix_v6")) { SMSB_TRY(n, read_uint(*v, "min_source_prefix_v6", 1, 128)); c.min_source_prefix_v6 = static_cast<unsigned>(n); }
  if (auto v = get("on_shutdown")) {
    SMSB_TRY(s, read_string(*v, "on_shutdown", 16));
    if (s == "close") c.on_shutdown = shutdown_policy::close;
    else if (s == "keep") c.on_shutdown = shutdown_policy::keep;
    else return fail(fmt::format("config key 'on_shutdown' must be \"close\" or \"keep\", not \"{}\".", s));
  }
  if (auto v = get("on_drift")) {
    SMSB_TRY(s, read_string(*v, "on_drift", 16));
    if (s == "repair") c.on_drift = drift_policy::repair;
    else if (s == "report") c.on_drift = drift_policy::report;
    else return fail(fmt::format("config key 'on_drift' must be \"repair\" or \"report\", not \"{}\".", s));
  }
  if (auto v = get("docker_user_chain")) { SMSB_TRY(b, read_bool(*v, "docker_user_chain")); c.docker_user_chain = b; }
  if (auto v = get("max_clients")) { SMSB_TRY(n, read_uint(*v, "max_clients", 1, 1024)); c.max_clients = static_cast<unsigned>(n); }
  if (auto v = get("client_timeout_seconds")) { SMSB_TRY(n, read_uint(*v, "client_timeout_seconds", 1, 3600)); c.client_timeout_seconds = static_cast<unsigned>(n); }
  if (auto v = get("reconcile_interval_seconds")) { SMSB_TRY(n, read_uint(*v, "reconcile_interval_seconds", 1, 86400)); c.reconcile_interval_seconds = static_cast<unsigned>(n); }
  if (auto v = get("max_grants")) { SMSB_TRY(n, read_uint(*v, "max_grants", 1, 100000)); c.max_grants = static_cast<unsigned>(n); }
  if (auto v = get("max_pending_events")) { SMSB_TRY(n, read_uint(*v, "max_pending_events", 16, 1000000)); c.max_pending_events = static_cast<unsigned>(n); }

  for (auto& [name, svc] : c.services) {
    (void)name;
    if (svc.target.address.family == ip_family::v6 && svc.masquerade) {
      return fail(fmt::format("config key 'services.{}.masquerade' is only supported for IPv4 targets.", svc.name));
    }
  }
  return c;
}

std::optional<std::string> source_refusal(const helper_config& c, const cidr& source) {
  if (c.allow_any_source) return std::nullopt;
  const bool v4 = source.network.family == ip_family::v4;
  const unsigned floor = v4 ? c.min_source_prefix_v4 : c.min_source_prefix_v6;
  if (source.prefix >= floor) return std::nullopt;
  return fmt::format("The source {} is wider than the helper config allows for {} (a /{} at most, min_source_prefix_{}); "
                     "allow_any_source lifts the limit.",
                     source.to_string(), v4 ? "IPv4" : "IPv6", floor, v4 ? "v4" : "v6");
}

std::optional<std::string> reload_refusal(const helper_config& running, const helper_config& next) {
  const auto changed = [](const char* key) {
    return fmt::format("config key '{}' changed, and only a restart can apply that; the running config is kept.", key);
  };
  if (next.socket_path != running.socket_path) return changed("socket");
  if (next.socket_mode != running.socket_mode) return changed("socket_mode");
  if (next.state_file != running.state_file) return changed("state_file");
  if (next.table != running.table) return changed("table");
  if (next.ct_mark_bit != running.ct_mark_bit) return changed("ct_mark_bit");
  if (next.docker_user_chain != running.docker_user_chain) return changed("docker_user_chain");
  return std::nullopt;
}

config_result<helper_config> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(fmt::format("cannot read config file {}: it does not exist or is not readable.", path));
  std::string text;
  text.resize(max_config_bytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto parsed = parse_config(text);
  if (!parsed) return fail(fmt::format("config file {}: {}", path, parsed.error()));
  return parsed;
}

}  // namespace smsbridge::firewall
