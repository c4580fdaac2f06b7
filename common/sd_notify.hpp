// systemd's notify protocol without libsystemd: one datagram per state change to $NOTIFY_SOCKET.
//
// The manager learns READY=1 (the listeners accept), STATUS=<one line> (what `systemctl status`
// shows), WATCHDOG=1 (the loop is alive) and STOPPING=1. The socket is the only I/O here; what to
// say and when is decided by the pure parts below and by common/service_state.hpp.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace smsbridge {

// Where the service manager listens. An interface so tests record what a daemon says.
class service_notifier {
 public:
  virtual ~service_notifier() = default;
  // Sends one message ("READY=1", "STATUS=...", ...). False if it could not be delivered (the
  // manager is gone or its queue is full); a daemon keeps running either way.
  virtual bool notify(std::string_view message) = 0;
};

// A NOTIFY_SOCKET value as a socket address: an absolute path, or "@name" for an abstract socket.
// Fails with a sentence for anything else (relative, too long for sun_path).
struct notify_address {
  sockaddr_un address{};
  socklen_t length = 0;
};
fallible<notify_address> parse_notify_socket(std::string_view value);

// The ping interval systemd expects from this process, from WATCHDOG_USEC and WATCHDOG_PID (either
// may be null): none when there is no watchdog, the value is not a positive number, or WATCHDOG_PID
// names another process.
std::optional<std::chrono::microseconds> watchdog_interval(const char* usec, const char* pid, long self);
// watchdog_interval() of this process's environment.
std::optional<std::chrono::microseconds> watchdog_from_environment();

// The real socket, from NOTIFY_SOCKET's value (null or empty: every notify() is a no-op that
// succeeds, as when the daemon runs outside systemd). Fails with a sentence on a bad value or when
// no datagram socket can be made.
class notify_socket final : public service_notifier {
 public:
  static fallible<notify_socket> open(const char* value);
  notify_socket(notify_socket&& other) noexcept;
  notify_socket& operator=(notify_socket&&) = delete;
  notify_socket(const notify_socket&) = delete;
  ~notify_socket() override;
  bool notify(std::string_view message) override;

 private:
  notify_socket() = default;
  int fd_ = -1;
  notify_address to_;
};

// STATUS= lines, bounded: the same text is never sent twice in a row and two sends are at least
// min_gap apart; a change inside the gap is held and the newest one sent when the gap ends.
class status_throttle {
 public:
  using clock = std::chrono::steady_clock;
  explicit status_throttle(clock::duration min_gap) : min_gap_(min_gap) {}

  // Records `text` as the status now. Returns the text to send at once, if any; otherwise due()
  // says when to call take().
  std::optional<std::string> offer(std::string text, clock::time_point now);
  // When the held text may be sent; none if nothing is held.
  std::optional<clock::time_point> due() const;
  // The held text, if it is due at `now` (and it still differs from the last one sent).
  std::optional<std::string> take(clock::time_point now);

 private:
  std::optional<std::string> send(std::string text, clock::time_point now);
  clock::duration min_gap_;
  std::optional<std::string> sent_, held_;
  std::optional<clock::time_point> sent_at_;
};

}  // namespace smsbridge
