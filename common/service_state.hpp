// What a daemon tells its service manager, said from the daemon's own event loop: READY=1 once the
// loop runs, STATUS= lines (throttled), WATCHDOG=1 pings from a timer on that loop, STOPPING=1.
//
// The watchdog timer shares the loop that serves requests: if that loop is stuck (a blocking call,
// a busy handler, SIGSTOP), the pings stop and systemd restarts the daemon after WatchdogSec. A
// thread of its own would ping through any of these.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/sd_notify.hpp"

namespace smsbridge {

class service_state {
 public:
  // `watchdog`: the manager's interval (watchdog_interval()); pings go out at half of it.
  // `status_gap`: the least time between two STATUS= lines.
  service_state(boost::asio::any_io_executor executor, service_notifier& notifier,
                std::optional<std::chrono::microseconds> watchdog,
                std::chrono::steady_clock::duration status_gap = std::chrono::seconds(2));
  service_state(const service_state&) = delete;
  service_state& operator=(const service_state&) = delete;

  // Posts READY=1 to the loop, so it is sent once the loop runs and accepts on the listeners
  // that are already listening; from then on, WATCHDOG=1 every half interval.
  void ready();
  // The one-line status (`systemctl status`); repeats are dropped, changes held to status_gap.
  void status(std::string text);
  // RELOADING=1 (with MONOTONIC_USEC, as systemd asks) before a reload, and READY=1 after it:
  // `systemctl status` shows "reloading" in between.
  void reloading();
  void reloaded();
  // STOPPING=1, and no more pings or status lines.
  void stopping();

 private:
  void ping();
  void arm_status();

  service_notifier& notifier_;
  std::optional<std::chrono::microseconds> watchdog_;
  boost::asio::steady_timer watchdog_timer_, status_timer_;
  status_throttle throttle_;
  bool status_armed_ = false, stopping_ = false;
};

}  // namespace smsbridge
