// nft command text rendered from typed values (see DESIGN.md §4.3), and the parse of `nft -j list table`.
#include "firewall-helper/ruleset.hpp"

#include <fmt/format.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

namespace smsbridge::firewall {

namespace {
using google::protobuf::Value;

bool is_host(const cidr& source);

// Host grants (/32, /128) live in hash sets: O(1) to add and delete however many are live.
// Network grants need an interval set (pipapo), whose updates cost O(n) in the kernel and in
// libnftables; they are rare (a whole office subnet), so they get a set of their own.
const char* set_of(const cidr& source) {
  const bool host = is_host(source);
  if (source.network.family == ip_family::v4) return host ? "grant_hosts4" : "grant_nets4";
  return host ? "grant_hosts6" : "grant_nets6";
}
const char* map_of(ip_family f) { return f == ip_family::v4 ? "fwd4" : "fwd6"; }

bool is_host(const cidr& source) { return source.prefix == (source.network.family == ip_family::v4 ? 32u : 128u); }

// A host is written as a bare address: a hash set refuses prefix notation.
std::string element_key(const cidr& source, std::uint16_t port) {
  if (is_host(source)) return fmt::format("{} . {}", source.network.to_string(), port);
  return fmt::format("{} . {}", source.to_string(), port);
}

std::string map_element(const grant_rule& g) {
  return fmt::format("{} : {} . {}", g.external_port, g.target.address.to_string(), g.target.port);
}

// Chains and the number of rules render_table gives each; the reconciler checks them.
struct chain_shape {
  const char* name;
  int rules;
};
}  // namespace

std::string render_timeout(std::chrono::milliseconds ms) {
  const auto total = ms.count() < 1 ? 1 : ms.count();  // never 0: a 0 timeout means "never expires"
  const auto s = total / 1000, rest = total % 1000;
  if (rest == 0) return fmt::format("{}s", s);
  if (s == 0) return fmt::format("{}ms", rest);
  return fmt::format("{}s{}ms", s, rest);
}

std::string render_table(const helper_config& c,
                         const std::vector<std::pair<grant_rule, std::chrono::milliseconds>>& grants) {
  const std::string bit = fmt::format("0x{:08x}", c.ct_mark_bit);
  const std::string ours = fmt::format("ct mark & {0} == {0} ct status dnat", bit);
  std::string masq_elements;
  for (const auto& [name, svc] : c.services) {
    if (!svc.masquerade) continue;
    masq_elements += fmt::format("{}{} . {}", masq_elements.empty() ? "" : ", ", svc.target.address.to_string(), svc.target.port);
  }
  // Newlines between closing braces matter: "} }" on one line does not parse in nft 1.0.6.
  std::string out = fmt::format(
      "add table inet {0}\n"
      "delete table inet {0}\n"
      "table inet {0} {{\n"
      "  map fwd4 {{\n    type inet_service : ipv4_addr . inet_service\n  }}\n"
      "  map fwd6 {{\n    type inet_service : ipv6_addr . inet_service\n  }}\n"
      "  set grant_hosts4 {{\n    type ipv4_addr . inet_service\n    flags timeout\n  }}\n"
      "  set grant_hosts6 {{\n    type ipv6_addr . inet_service\n    flags timeout\n  }}\n"
      "  set grant_nets4 {{\n    type ipv4_addr . inet_service\n    flags interval,timeout\n  }}\n"
      "  set grant_nets6 {{\n    type ipv6_addr . inet_service\n    flags interval,timeout\n  }}\n"
      "  set masq4 {{\n    type ipv4_addr . inet_service\n{3}  }}\n"
      "  chain prerouting {{\n"
      "    type nat hook prerouting priority dstnat - 10; policy accept;\n"
      "    ip saddr . tcp dport @grant_hosts4 ct mark set ct mark | {1} dnat ip to tcp dport map @fwd4\n"
      "    ip saddr . tcp dport @grant_nets4 ct mark set ct mark | {1} dnat ip to tcp dport map @fwd4\n"
      "    ip6 saddr . tcp dport @grant_hosts6 ct mark set ct mark | {1} dnat ip6 to tcp dport map @fwd6\n"
      "    ip6 saddr . tcp dport @grant_nets6 ct mark set ct mark | {1} dnat ip6 to tcp dport map @fwd6\n"
      "  }}\n"
      // A DNAT'd flow of ours survives only while its grant does: this cuts established flows.
      "  chain check {{\n"
      "    meta nfproto ipv4 meta l4proto tcp ct original ip saddr . ct original proto-dst @grant_hosts4 return\n"
      "    meta nfproto ipv4 meta l4proto tcp ct original ip saddr . ct original proto-dst @grant_nets4 return\n"
      "    meta nfproto ipv6 meta l4proto tcp ct original ip6 saddr . ct original proto-dst @grant_hosts6 return\n"
      "    meta nfproto ipv6 meta l4proto tcp ct original ip6 saddr . ct original proto-dst @grant_nets6 return\n"
      "    meta l4proto tcp reject with tcp reset\n"
      "    drop\n"
      "  }}\n"
      "  chain guard_in {{\n"
      "    type filter hook input priority filter - 10; policy accept;\n"
      "    {2} jump check\n"
      // route_localnet lets outsiders address 127.0.0.0/8; only our DNAT'd flows may (CVE-2020-8558).
      "    iifname != \"lo\" ip daddr 127.0.0.0/8 ct status & dnat == 0 drop\n"
      "  }}\n"
      "  chain guard_fwd {{\n"
      "    type filter hook forward priority filter - 10; policy accept;\n"
      "    {2} jump check\n"
      // The packet carries our bit too: iptables-nft can read a DOCKER-USER rule that matches the
      // packet mark (-m mark), but not one that matches the conntrack mark natively.
      "    {2} meta mark set meta mark | {1}\n"
      "  }}\n"
      "  chain postrouting {{\n"
      "    type nat hook postrouting priority srcnat - 10; policy accept;\n"
      "    {2} ip daddr . tcp dport @masq4 masquerade\n"
      "  }}\n"
      "}}\n",
      c.table, bit, ours, masq_elements.empty() ? "" : fmt::format("    elements = {{ {} }}\n", masq_elements));
  for (const auto& [g, remaining] : grants) out += render_add_grant(c.table, g, remaining);
  return out;
}

bool same_skeleton(const helper_config& a, const helper_config& b) { return render_table(a, {}) == render_table(b, {}); }

std::string render_add_grant(std::string_view table, const grant_rule& g, std::chrono::milliseconds timeout) {
  return fmt::format("add element inet {0} {1} {{ {2} }}\nadd element inet {0} {3} {{ {4} timeout {5} }}\n", table,
                     map_of(g.target.address.family), map_element(g), set_of(g.source),
                     element_key(g.source, g.external_port), render_timeout(timeout));
}

std::string render_delete_grant(std::string_view table, const grant_rule& g, bool with_map_entry) {
  std::string out = fmt::format("delete element inet {} {} {{ {} }}\n", table, set_of(g.source),
                                element_key(g.source, g.external_port));
  if (with_map_entry) out += render_delete_map_entry(table, g.target.address.family, g.external_port);
  return out;
}

std::string render_delete_map_entry(std::string_view table, ip_family target_family, std::uint16_t port) {
  return fmt::format("delete element inet {} {} {{ {} }}\n", table, map_of(target_family), port);
}

std::string render_delete_element(std::string_view table, const cidr& source, std::uint16_t port) {
  return fmt::format("delete element inet {} {} {{ {} }}\n", table, set_of(source), element_key(source, port));
}

std::string render_list_table(std::string_view table) { return fmt::format("list table inet {}\n", table); }

std::string render_docker_user_accept(std::uint32_t mark_bit) {
  // The form `iptables -I DOCKER-USER -m mark --mark BIT/BIT -m comment ... -j ACCEPT` would give,
  // so that iptables -S and iptables-save keep working on a host that runs Docker.
  return fmt::format("insert rule ip filter DOCKER-USER meta mark & 0x{0:08x} == 0x{0:08x} counter accept comment \"{1}\"\n",
                     mark_bit, docker_rule_comment);
}

namespace {
// A set element key: "addr" (a host), {"prefix":{"addr","len"}}, or a number for the port.
fallible<std::string> read_address(const Value& v) {
  if (v.kind_case() == Value::kStringValue) {
    auto c = parse_cidr(v.string_value());
    if (!c) return c.error();
    return c->to_string();
  }
  if (v.kind_case() == Value::kStructValue) {
    auto p = v.struct_value().fields().find("prefix");
    if (p != v.struct_value().fields().end() && p->second.kind_case() == Value::kStructValue) {
      const auto& pf = p->second.struct_value().fields();
      auto addr = pf.find("addr");
      auto len = pf.find("len");
      if (addr != pf.end() && len != pf.end() && addr->second.kind_case() == Value::kStringValue &&
          len->second.kind_case() == Value::kNumberValue) {
        auto c = parse_cidr(fmt::format("{}/{}", addr->second.string_value(), static_cast<int>(len->second.number_value())));
        if (!c) return c.error();
        return c->to_string();
      }
    }
  }
  return fail("a set element has an address in an unexpected form.");
}

const Value* field(const Value& v, const char* name) {
  if (v.kind_case() != Value::kStructValue) return nullptr;
  auto it = v.struct_value().fields().find(name);
  return it == v.struct_value().fields().end() ? nullptr : &it->second;
}

bool read_port(const Value* v, std::uint16_t& out) {
  if (!v || v->kind_case() != Value::kNumberValue || v->number_value() < 0 || v->number_value() > 65535) return false;
  out = static_cast<std::uint16_t>(v->number_value());
  return true;
}
}  // namespace

fallible<kernel_view> parse_kernel_view(std::string_view json_text) {
  kernel_view view;
  if (json_text.empty()) return view;
  Value root;
  if (auto st = google::protobuf::util::JsonStringToMessage(std::string(json_text), &root); !st.ok()) {
    return fail(fmt::format("the kernel listing is not JSON ({}).", std::string(st.message())));
  }
  const Value* items = field(root, "nftables");
  if (!items || items->kind_case() != Value::kListValue) return fail("the kernel listing has no \"nftables\" array.");

  std::map<std::string, int> rules_per_chain;
  std::set<std::string> sets;
  for (const auto& item : items->list_value().values()) {
    if (field(item, "table")) view.table_present = true;
    if (const Value* chain = field(item, "chain")) {
      if (const Value* name = field(*chain, "name")) rules_per_chain.emplace(name->string_value(), 0);
    }
    if (const Value* rule = field(item, "rule")) {
      if (const Value* name = field(*rule, "chain")) ++rules_per_chain[name->string_value()];
    }
    for (const char* kind : {"set", "map"}) {
      const Value* s = field(item, kind);
      if (!s) continue;
      const Value* name = field(*s, "name");
      if (!name) continue;
      sets.insert(name->string_value());
      const Value* elems = field(*s, "elem");
      if (!elems || elems->kind_case() != Value::kListValue) continue;
      const bool is_grants = name->string_value().rfind("grant_", 0) == 0;
      const bool is_fwd = name->string_value() == "fwd4" || name->string_value() == "fwd6";
      for (const auto& e : elems->list_value().values()) {
        if (is_grants) {
          // {"elem": {"val": {"concat": [addr, port]}, "timeout": ..}} or bare {"concat": [...]}
          const Value* val = field(e, "elem") ? field(*field(e, "elem"), "val") : &e;
          const Value* concat = val ? field(*val, "concat") : nullptr;
          if (!concat || concat->kind_case() != Value::kListValue || concat->list_value().values_size() != 2) {
            return fail(fmt::format("an element of {} has an unexpected form.", name->string_value()));
          }
          auto addr = read_address(concat->list_value().values(0));
          std::uint16_t port = 0;
          if (!addr || !read_port(&concat->list_value().values(1), port)) {
            return fail(fmt::format("an element of {} has an unexpected form.", name->string_value()));
          }
          view.grants.emplace(*addr, port);
          const Value* elem = field(e, "elem");
          const Value* expires = elem ? field(*elem, "expires") : nullptr;
          if (expires && expires->kind_case() == Value::kNumberValue && expires->number_value() >= 0 &&
              expires->number_value() < 1e9) {
            view.grant_expires_ms[{*addr, port}] = static_cast<std::int64_t>(expires->number_value()) * 1000 + 999;
          }
        } else if (is_fwd) {
          // [port, {"concat": [addr, port]}]
          if (e.kind_case() != Value::kListValue || e.list_value().values_size() != 2) {
            return fail(fmt::format("an entry of {} has an unexpected form.", name->string_value()));
          }
          std::uint16_t port = 0, target_port = 0;
          const Value* concat = field(e.list_value().values(1), "concat");
          if (!read_port(&e.list_value().values(0), port) || !concat || concat->kind_case() != Value::kListValue ||
              concat->list_value().values_size() != 2 || !read_port(&concat->list_value().values(1), target_port)) {
            return fail(fmt::format("an entry of {} has an unexpected form.", name->string_value()));
          }
          auto addr = parse_ip_address(concat->list_value().values(0).string_value());
          if (!addr) return addr.error();
          view.forwards[port] = endpoint{*addr, target_port}.to_string();
        }
      }
    }
  }
  const chain_shape expected[] = {{"prerouting", 4}, {"check", 6}, {"guard_in", 2}, {"guard_fwd", 2}, {"postrouting", 1}};
  view.skeleton_intact = view.table_present;
  for (const auto& c : expected) {
    auto it = rules_per_chain.find(c.name);
    if (it == rules_per_chain.end() || it->second != c.rules) view.skeleton_intact = false;
  }
  for (const char* s : {"fwd4", "fwd6", "grant_hosts4", "grant_hosts6", "grant_nets4", "grant_nets6", "masq4"})
    if (!sets.count(s)) view.skeleton_intact = false;
  return view;
}

}  // namespace smsbridge::firewall
