#include "api-daemon/history_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "common/fd_io.hpp"

namespace smsbridge::api::history {

namespace {

std::string errno_text() { return std::strerror(errno); }

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// A rename is durable once the directory is synced.
void sync_directory(const std::string& path) {
  const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  ::fsync(dir);
  ::close(dir);
}

fallible<std::string> read_whole(int fd, const std::string& path) {
  std::string data;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(fmt::format("cannot read the metrics history file {}: {}.", path, errno_text()));
    if (n == 0) return data;
    data.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace

fallible<history_file> history_file::open(const std::string& path, store& into, std::string& report) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return fail(fmt::format("cannot open the metrics history file {}: {}.", path, errno_text()));
  auto data = read_whole(fd, path);
  if (!data) {
    ::close(fd);
    return data.error();
  }
  if (!data->empty() && !std::string_view(*data).starts_with(file_magic)) {
    ::close(fd);
    const std::string aside = path + ".not-history";
    if (::rename(path.c_str(), aside.c_str()) != 0) {
      return fail(fmt::format("{} is not a metrics history file and cannot be moved aside: {}.", path, errno_text()));
    }
    report = fmt::format("{} was not a metrics history file; it was moved to {} and a new history begins.", path, aside);
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) return fail(fmt::format("cannot create the metrics history file {}: {}.", path, errno_text()));
    data->clear();
  }
  std::size_t size = data->size();
  if (data->empty()) {
    if (!write_all(fd, file_magic) || ::fdatasync(fd) != 0) {
      const auto why = errno_text();
      ::close(fd);
      return fail(fmt::format("cannot write the metrics history file {}: {}.", path, why));
    }
    size = file_magic.size();
    if (report.empty()) report = fmt::format("a new metrics history begins in {}.", path);
    return history_file(path, fd, size);
  }
  const auto loaded = into.replay(*data);
  if (loaded.dropped_bytes > 0) {
    // What follows the last whole record is a write a crash cut short: cut it off, so that the
    // next record starts where a reader expects one.
    if (::ftruncate(fd, static_cast<off_t>(loaded.good_bytes)) != 0 || ::fdatasync(fd) != 0) {
      const auto why = errno_text();
      ::close(fd);
      return fail(fmt::format("cannot cut the torn end off the metrics history file {}: {}.", path, why));
    }
    size = loaded.good_bytes;
  }
  report = fmt::format("loaded the metrics history from {}: {} ticks of {} series ({} KiB in memory){}.", path, into.ticks(),
                       into.series_count(), into.bytes() / 1024,
                       loaded.dropped_bytes > 0 ? fmt::format("; a torn end of {} bytes was dropped", loaded.dropped_bytes) : "");
  return history_file(path, fd, size);
}

history_file::history_file(history_file&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_), size_(other.size_) {
  other.fd_ = -1;
}

history_file::~history_file() {
  if (fd_ >= 0) ::close(fd_);
}

fallible<void> history_file::append(std::string_view records) {
  if (records.empty()) return {};
  if (::lseek(fd_, 0, SEEK_END) < 0 || !write_all(fd_, records) || ::fdatasync(fd_) != 0) {
    const auto why = errno_text();
    // Nothing half-written stays: the next ticks' records would decode against state the file
    // never received. The caller rewrites the whole file at its next success.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      // The file can no longer be trusted past size_; a rewrite replaces it anyway.
    }
    return fail(fmt::format("cannot append to the metrics history file {}: {}.", path_, why));
  }
  size_ += records.size();
  return {};
}

fallible<void> history_file::rewrite(std::string_view snapshot) {
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return fail(fmt::format("cannot rewrite the metrics history file {}: {}.", tmp, errno_text()));
  if (!write_all(fd, file_magic) || !write_all(fd, snapshot) || ::fsync(fd) != 0) {
    const auto why = errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail(fmt::format("cannot rewrite the metrics history file {}: {}.", tmp, why));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    const auto why = errno_text();
    ::unlink(tmp.c_str());
    return fail(fmt::format("cannot replace the metrics history file {}: {}.", path_, why));
  }
  sync_directory(path_);
  const int reopened = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (reopened < 0) return fail(fmt::format("cannot reopen the metrics history file {}: {}.", path_, errno_text()));
  ::close(fd_);
  fd_ = reopened;
  size_ = file_magic.size() + snapshot.size();
  return {};
}

}  // namespace smsbridge::api::history
