// systemd's notify protocol: the address and watchdog parsing, the status throttle and the socket.
#include "common/sd_notify.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <fmt/format.h>

namespace smsbridge {

fallible<notify_address> parse_notify_socket(std::string_view value) {
  notify_address out;
  out.address.sun_family = AF_UNIX;
  const bool abstract = !value.empty() && value[0] == '@';
  if (value.empty() || (!abstract && value[0] != '/')) {
    return fail(fmt::format("NOTIFY_SOCKET '{}' is neither an absolute path nor an abstract name (@...).", value));
  }
  // A path needs room for its NUL; an abstract name's leading NUL replaces the '@'.
  if (value.size() + (abstract ? 0 : 1) > sizeof out.address.sun_path) {
    return fail(fmt::format("NOTIFY_SOCKET is {} bytes, longer than a Unix socket address holds.", value.size()));
  }
  std::memcpy(out.address.sun_path, value.data(), value.size());
  if (abstract) out.address.sun_path[0] = '\0';
  out.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + value.size() + (abstract ? 0 : 1));
  return out;
}

std::optional<std::chrono::microseconds> watchdog_interval(const char* usec, const char* pid, long self) {
  const auto number = [](const char* text) -> std::optional<unsigned long long> {
    if (!text || !*text) return std::nullopt;
    unsigned long long v = 0;
    const char* end = text + std::strlen(text);
    const auto [p, ec] = std::from_chars(text, end, v);
    if (ec != std::errc() || p != end || v == 0) return std::nullopt;
    return v;
  };
  const auto interval = number(usec);
  if (!interval) return std::nullopt;
  // Set by the manager for the main process; a child that inherited the environment must not ping.
  if (pid && *pid) {
    const auto owner = number(pid);
    if (!owner || *owner != static_cast<unsigned long long>(self)) return std::nullopt;
  }
  return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(*interval));
}

std::optional<std::chrono::microseconds> watchdog_from_environment() {
  return watchdog_interval(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"), static_cast<long>(::getpid()));
}

fallible<notify_socket> notify_socket::open(const char* value) {
  notify_socket s;
  if (!value || !*value) return s;
  auto to = parse_notify_socket(value);
  if (!to) return to.error();
  s.to_ = *to;
  s.fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s.fd_ < 0) return fail(fmt::format("cannot create a socket for NOTIFY_SOCKET: {}.", std::strerror(errno)));
  return s;
}

notify_socket::notify_socket(notify_socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)), to_(other.to_) {}

notify_socket::~notify_socket() {
  if (fd_ >= 0) ::close(fd_);
}

bool notify_socket::notify(std::string_view message) {
  if (fd_ < 0) return true;
  // Non-blocking: a stuck manager must not stall the loop that pings it.
  for (;;) {
    const ssize_t n = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL,
                               reinterpret_cast<const sockaddr*>(&to_.address), to_.length);
    if (n < 0 && errno == EINTR) continue;
    return n == static_cast<ssize_t>(message.size());
  }
}

std::optional<std::string> status_throttle::offer(std::string text, clock::time_point now) {
  if (!held_ && text == sent_) return std::nullopt;
  if (!sent_at_ || now - *sent_at_ >= min_gap_) {
    held_.reset();
    return send(std::move(text), now);
  }
  held_ = std::move(text);
  return std::nullopt;
}

std::optional<status_throttle::clock::time_point> status_throttle::due() const {
  if (!held_) return std::nullopt;
  return *sent_at_ + min_gap_;
}

std::optional<std::string> status_throttle::take(clock::time_point now) {
  if (!held_ || now < *sent_at_ + min_gap_) return std::nullopt;
  std::string text = std::move(*held_);
  held_.reset();
  return send(std::move(text), now);
}

std::optional<std::string> status_throttle::send(std::string text, clock::time_point now) {
  if (text == sent_) return std::nullopt;  // changed and changed back within the gap
  sent_ = text;
  sent_at_ = now;
  return text;
}

}  // namespace smsbridge
