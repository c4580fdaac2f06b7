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
bool sync_directory(const std::string& path) {
  const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return false;
  const bool synced = ::fsync(dir) == 0;
  const int saved = errno;
  ::close(dir);
  errno = saved;
  return synced;
}

// path.KIND, or with the time added if that exists already: what is moved aside is never
// overwritten.
fallible<std::string> move_aside(const std::string& path, const char* kind) {
  std::string aside = fmt::format("{}.{}", path, kind);
  struct stat st {};
  if (::lstat(aside.c_str(), &st) == 0) {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
    aside = fmt::format("{}.{}-{}", path, kind, stamp);
    if (::lstat(aside.c_str(), &st) == 0) return fail(fmt::format("{} exists already", aside));
  }
  if (::rename(path.c_str(), aside.c_str()) != 0) return fail(errno_text());
  return aside;
}

// The file read front to back, a record at a time: memory holds one record, not the file. A
// read error is kept apart from the end of the file, so that it is never taken for a torn tail.
class file_source final : public byte_source {
 public:
  file_source(int fd, std::size_t size) : fd_(fd), size_(size) {}
  std::optional<std::string_view> read(std::size_t n) override {
    buffer_.resize(n);
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::read(fd_, buffer_.data() + got, n - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) error_ = errno_text();
      if (r <= 0) return std::nullopt;
      got += static_cast<std::size_t>(r);
    }
    return std::string_view(buffer_);
  }
  std::size_t size() const override { return size_; }
  const std::string& error() const { return error_; }

 private:
  int fd_;
  std::size_t size_;
  std::string buffer_;
  std::string error_;
};

}  // namespace

fallible<history_file> history_file::open(const std::string& path, store& into, std::string& report) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return fail(fmt::format("cannot open the metrics history file {}: {}.", path, errno_text()));
  struct stat st {};
  char head[file_magic.size()] = {};
  const ssize_t head_read = ::fstat(fd, &st) == 0 ? ::pread(fd, head, sizeof head, 0) : -1;
  if (head_read < 0) {
    const auto why = errno_text();
    ::close(fd);
    return fail(fmt::format("cannot read the metrics history file {}: {}.", path, why));
  }
  std::size_t size = static_cast<std::size_t>(st.st_size);
  const std::string_view start(head, static_cast<std::size_t>(head_read));
  if (size < file_magic.size() && file_magic.starts_with(start)) {
    // A crash while the file was being created: nothing was in it yet.
    size = 0;
    if (::ftruncate(fd, 0) != 0) {
      const auto why = errno_text();
      ::close(fd);
      return fail(fmt::format("cannot empty the metrics history file {}: {}.", path, why));
    }
  } else if (start != file_magic) {
    ::close(fd);
    const auto aside = move_aside(path, "not-history");
    if (!aside) return fail(fmt::format("{} is not a metrics history file and cannot be moved aside: {}.", path, aside.error().message));
    report = fmt::format("{} was not a metrics history file; it was moved to {} and a new history begins.", path, *aside);
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) return fail(fmt::format("cannot create the metrics history file {}: {}.", path, errno_text()));
    size = 0;
  }
  if (size == 0) {
    if (!write_all(fd, file_magic) || ::fdatasync(fd) != 0) {
      const auto why = errno_text();
      ::close(fd);
      return fail(fmt::format("cannot write the metrics history file {}: {}.", path, why));
    }
    size = file_magic.size();
    if (report.empty()) report = fmt::format("a new metrics history begins in {}.", path);
    return history_file(path, fd, size);
  }
  file_source source(fd, size);
  const auto loaded = into.replay(source);
  if (!source.error().empty()) {
    ::close(fd);
    return fail(fmt::format("cannot read the metrics history file {}: {}.", path, source.error()));
  }
  if (loaded.refused) {
    // A whole record this daemon cannot place (a newer version's, or damage the checksum missed):
    // the file is kept as it is, aside, and what loaded goes on in a new file.
    ::close(fd);
    const auto aside = move_aside(path, "unreadable");
    if (!aside) {
      return fail(fmt::format("{} holds a record this version cannot read, and cannot be moved aside: {}.", path, aside.error().message));
    }
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) return fail(fmt::format("cannot create the metrics history file {}: {}.", path, errno_text()));
    history_file fresh(path, fd, 0);
    if (auto written = fresh.rewrite(into); !written) return written.error();
    report = fmt::format("{} holds a record this version cannot read after {} ticks; it was moved to {}, and the {} ticks before "
                         "that record go on in a new file.",
                         path, loaded.ticks, *aside, into.ticks());
    return fresh;
  }
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

fallible<void> history_file::rewrite(const store& from) {
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return fail(fmt::format("cannot rewrite the metrics history file {}: {}.", tmp, errno_text()));
  // Written through a small buffer, record by record: no second copy of the history in memory.
  std::string buffer(file_magic);
  std::size_t written = 0;
  bool ok = true;
  const auto flush = [&] {
    ok = ok && write_all(fd, buffer);
    written += buffer.size();
    buffer.clear();
    return ok;
  };
  from.snapshot([&](std::string_view record) {
    buffer += record;
    return buffer.size() < (64U << 10) || flush();
  });
  if (!flush() || ::fsync(fd) != 0) {
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
  const bool synced = sync_directory(path_);
  const auto sync_error = errno_text();
  const int reopened = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (reopened < 0) return fail(fmt::format("cannot reopen the metrics history file {}: {}.", path_, errno_text()));
  if (fd_ >= 0) ::close(fd_);
  fd_ = reopened;
  size_ = written;
  if (!synced) {
    return fail(fmt::format("the metrics history file {} was rewritten, but its directory could not be synced ({}), so a power "
                            "loss could bring back the old file.",
                            path_, sync_error));
  }
  return {};
}

}  // namespace smsbridge::api::history
