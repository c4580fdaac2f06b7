// The helper's I/O shell: the Unix socket server, the expiry and reconcile timers, and signals.
#pragma once

#include <chrono>
#include <optional>

#include "common/result.hpp"
#include "common/sd_notify.hpp"

#include "firewall-helper/config.hpp"
#include "firewall-helper/firewall_service.hpp"

namespace smsbridge::firewall {

// Serves `service` on config.socket_path until SIGTERM or SIGINT, then runs service.shutdown().
// SIGHUP reloads: config_path is read again and, if it parses and reload_refusal() accepts it,
// replaces `config` (which `service` reads) and the live doors are re-validated; otherwise the
// running config is kept and a warning says why.
// Tells `notifier` READY=1 once the socket listens and the table is reconciled, STATUS= with the
// doors open, WATCHDOG=1 every half `watchdog` from the serving loop, RELOADING=1 and READY=1
// around a reload, and STOPPING=1.
// Fails with a sentence if the socket cannot be created (or another helper is serving it).
// Logs (common/log.hpp) an error when a session or loop ends on an unexpected exception.
fallible<void> serve(helper_config& config, const std::string& config_path, firewall_service& service, service_notifier& notifier,
                     std::optional<std::chrono::microseconds> watchdog);

}  // namespace smsbridge::firewall
