// Small helpers for raw file descriptors, shared by the two daemons' file writers.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace smsbridge {

// Writes all of data, retrying short writes and EINTR. False on any other error (errno set).
inline bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = EIO;  // a write of nothing would otherwise report a stale errno
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace smsbridge
