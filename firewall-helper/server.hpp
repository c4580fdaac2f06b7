// The helper's I/O shell: the Unix socket server, the expiry and reconcile timers, and signals.
#pragma once

#include "common/result.hpp"

#include "firewall-helper/config.hpp"
#include "firewall-helper/firewall_service.hpp"

namespace smsbridge::firewall {

// Serves `service` on config.socket_path until SIGTERM or SIGINT, then runs service.shutdown().
// SIGHUP reloads: config_path is read again and, if it parses and reload_refusal() accepts it,
// replaces `config` (which `service` reads) and the live doors are re-validated; otherwise the
// running config is kept and a warning says why.
// Fails with a sentence if the socket cannot be created (or another helper is serving it).
// Logs (common/log.hpp) an error when a session or loop ends on an unexpected exception.
fallible<void> serve(helper_config& config, const std::string& config_path, firewall_service& service);

}  // namespace smsbridge::firewall
