// The Asio shell around sd_notify: READY=1 from the loop, the watchdog timer, held STATUS= lines.
#include "common/service_state.hpp"

#include <utility>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

namespace smsbridge {

service_state::service_state(boost::asio::any_io_executor executor, service_notifier& notifier,
                             std::optional<std::chrono::microseconds> watchdog, std::chrono::steady_clock::duration status_gap)
    : notifier_(notifier), watchdog_(watchdog), watchdog_timer_(executor), status_timer_(executor), throttle_(status_gap) {}

void service_state::ready() {
  boost::asio::post(watchdog_timer_.get_executor(), [this] {
    if (stopping_) return;
    notifier_.notify("READY=1");
    if (watchdog_) ping();
  });
}

void service_state::ping() {
  notifier_.notify("WATCHDOG=1");
  watchdog_timer_.expires_after(*watchdog_ / 2);
  watchdog_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !stopping_) ping();
  });
}

void service_state::status(std::string text) {
  if (stopping_) return;
  if (auto now = throttle_.offer(std::move(text), std::chrono::steady_clock::now())) {
    notifier_.notify(fmt::format("STATUS={}", *now));
    return;
  }
  arm_status();
}

void service_state::arm_status() {
  const auto due = throttle_.due();
  if (!due || status_armed_) return;
  status_armed_ = true;
  status_timer_.expires_at(*due);
  status_timer_.async_wait([this](const boost::system::error_code& ec) {
    status_armed_ = false;
    if (ec || stopping_) return;
    if (auto held = throttle_.take(std::chrono::steady_clock::now())) notifier_.notify(fmt::format("STATUS={}", *held));
    arm_status();
  });
}

void service_state::reloading() {
  if (stopping_) return;
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch());
  notifier_.notify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", now.count()));
}

void service_state::reloaded() {
  if (!stopping_) notifier_.notify("READY=1");
}

void service_state::stopping() {
  if (stopping_) return;
  stopping_ = true;
  watchdog_timer_.cancel();
  status_timer_.cancel();
  notifier_.notify("STOPPING=1");
}

}  // namespace smsbridge
