// sms-bridge-firewall-helper: wiring only. Parses the command line, checks the capability, builds
// the kernel/host/state objects and hands them to the core and the server.
#include <malloc.h>
#include <sys/random.h>

#include <csignal>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "common/build_info.hpp"
#include "common/log.hpp"
#include "common/sd_notify.hpp"
#include "firewall-helper/config.hpp"
#include "firewall-helper/conntrack.hpp"
#include "firewall-helper/firewall_service.hpp"
#include "firewall-helper/host_probe.hpp"
#include "firewall-helper/nft_context.hpp"
#include "firewall-helper/server.hpp"
#include "firewall-helper/state_store.hpp"

namespace fw = smsbridge::firewall;


namespace {
constexpr const char* usage =
    "usage: sms-bridge-firewall-helper --config FILE\n"
    "       sms-bridge-firewall-helper --check-config FILE\n"
    "\n"
    "The privileged half of SMS Bridge: the only process that changes the firewall. It owns the\n"
    "nftables table named in its config, opens time-boxed monitoring doors (DNAT + a source-limited\n"
    "grant with a kernel timeout) on request over a Unix socket, and keeps port_mappings.json.\n"
    "It needs CAP_NET_ADMIN and nothing more; run it as an unprivileged user that holds only that\n"
    "capability (systemd AmbientCapabilities=CAP_NET_ADMIN).\n"
    "\n"
    "options:\n"
    "  --config FILE        run with this JSON config (see README.md for every key and default)\n"
    "  --check-config FILE  validate the config and exit\n"
    "  -h, --help           this text\n"
    "  --version            print the version and the git revision it was built from\n"
    "\n"
    "signals: SIGTERM/SIGINT stop it; with on_shutdown \"close\" every door is closed first,\n"
    "         with \"keep\" doors are left to their kernel timeouts.\n"
    "         SIGHUP reloads the config file: live doors it no longer allows are closed, the\n"
    "         others keep their deadlines; a config that is invalid, or that changes socket,\n"
    "         socket_mode, state_file, table, ct_mark_bit or docker_user_chain (restart for\n"
    "         those), is refused with a warning and the running config is kept.\n"
    "exit codes: 0 stopped by a signal; 1 cannot run (no CAP_NET_ADMIN, socket or nftables error);\n"
    "            2 usage or configuration error.\n";

#ifdef SMS_BRIDGE_FAULTS
// sms-bridge-firewall-helper-faults only: SMS_BRIDGE_CRASH_OPEN_AT=journal (the records durable,
// the kernel untouched) or kernel (the element added, nothing written) kills the helper with
// SIGKILL in the middle of an Open, as a power cut or an OOM kill would.
std::optional<fw::open_crash> crash_from_environment() {
  const char* at = std::getenv("SMS_BRIDGE_CRASH_OPEN_AT");
  if (!at) return std::nullopt;
  const std::string_view where = at;
  if (where != "journal" && where != "kernel") {
    std::fprintf(stderr, "sms-bridge-firewall-helper-faults: SMS_BRIDGE_CRASH_OPEN_AT must be journal or kernel, not '%s'.\n", at);
    std::exit(2);
  }
  return fw::open_crash{where == "journal" ? fw::open_crash_point::journal_written : fw::open_crash_point::kernel_changed,
                        [] { ::raise(SIGKILL); }};
}
#else
std::optional<fw::open_crash> crash_from_environment() { return std::nullopt; }
#endif

std::string random_id() {
  unsigned char bytes[16];
  if (::getrandom(bytes, sizeof bytes, 0) != sizeof bytes) throw std::runtime_error("getrandom failed");
  std::string out;
  for (auto b : bytes) out += fmt::format("{:02x}", b);
  return out;
}
}  // namespace

int main(int argc, char** argv) {
  // One line per event on stderr; under systemd, with the journal's priority prefix.
  smsbridge::log::set_sink(smsbridge::log::stderr_sink("sms-bridge-firewall-helper"));
  // Door events also go to journald natively, with their message ids and fields (door_log.hpp).
  smsbridge::log::send_events_to_journal("sms-bridge-firewall-helper");
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(usage, stdout);
      return 0;
    }
    if (a == "--version") {
      std::fputs(smsbridge::version_text("sms-bridge-firewall-helper").c_str(), stdout);
      return 0;
    }
    if ((a == "--config" || a == "--check-config") && i + 1 < argc) {
      check_only = a == "--check-config";
      config_path = argv[++i];
      continue;
    }
    std::fprintf(stderr, "sms-bridge-firewall-helper: unexpected argument '%s'; see --help.\n", argv[i]);
    return 2;
  }
  if (config_path.empty()) {
    std::fputs("sms-bridge-firewall-helper: --config FILE is required; see --help.\n", stderr);
    return 2;
  }
  auto config = fw::load_config(config_path);
  if (!config) {
    smsbridge::log::error("{}", config.error());
    return 2;
  }
  if (check_only) {
    std::printf("%s: ok (%zu services, table inet %s)\n", config_path.c_str(), config->services.size(), config->table.c_str());
    return 0;
  }
  if (!fw::has_cap_net_admin()) {
    smsbridge::log::error("refusing to start: this process lacks the CAP_NET_ADMIN capability, which it needs to manage nftables. "
               "Run it as root, or as its own user with AmbientCapabilities=CAP_NET_ADMIN (systemd) or "
               "setpriv --ambient-caps +net_admin.");
    return 1;
  }
  if (fw::has_capabilities_beyond_net_admin()) {
    smsbridge::log::warning("running with capabilities beyond CAP_NET_ADMIN; it needs only that one.");
  }
  try {
    fw::nft_context nft;
    fw::background_flow_cutter cutter(config->ct_mark_bit);
    fw::linux_host_probe probe;
    fw::state_store store(config->state_file);
    fw::service_deps deps{nft, cutter, probe, store,
                          [] {
                            return std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                .count();
                          },
                          random_id};
    deps.crash_open = crash_from_environment();  // none in the shipped helper
    fw::firewall_service service(*config, std::move(deps));
    if (auto r = service.start(); !r) {
      smsbridge::log::error("{}", r.error());
      return 1;
    }
    for (const auto& w : probe.warnings(*config)) smsbridge::log::warning("{}", w);
    // Parsing the config and replaying the state left freed heap behind; give it back.
    ::malloc_trim(0);
    auto notify = smsbridge::notify_socket::open(std::getenv("NOTIFY_SOCKET"));  // systemd's Type=notify; unset: none
    if (!notify) {
      smsbridge::log::error("{}", notify.error());
      return 1;
    }
    if (auto r = fw::serve(*config, config_path, service, *notify, smsbridge::watchdog_from_environment()); !r) {
      smsbridge::log::error("{}", r.error());
      return 1;
    }
  } catch (const std::exception& e) {
    // Broken infrastructure (no netlink, no memory): one line, and a non-zero exit for the supervisor.
    smsbridge::log::error("{}", e.what());
    return 1;
  }
  return 0;
}
