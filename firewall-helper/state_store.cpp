// The state file on disk: snapshot replacement, journal appends with fdatasync, corrupt-file quarantine.
#include "firewall-helper/state_store.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "common/fd_io.hpp"

#include "firewall-helper/state_codec.hpp"

namespace smsbridge::firewall {

namespace {
constexpr std::size_t max_state_bytes = 256u << 20;
constexpr std::size_t min_compaction_bytes = 256u << 10;

std::string errno_text() { return std::strerror(errno); }

// Reads a whole file; nullopt if it does not exist. Fails on other errors and on absurd sizes.
fallible<std::optional<std::string>> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return fail(fmt::format("cannot open {}: {}", path, errno_text()));
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const auto err = fmt::format("cannot read {}: {}", path, errno_text());
      ::close(fd);
      return fail(err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > max_state_bytes) {
      ::close(fd);
      return fail(fmt::format("{} is larger than {} MiB", path, max_state_bytes >> 20));
    }
  }
  ::close(fd);
  return std::optional<std::string>{std::move(text)};
}

std::string utc_stamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}
}  // namespace

state_store::state_store(std::string snapshot_path)
    : snapshot_path_(std::move(snapshot_path)), journal_path_(snapshot_path_ + ".journal") {}

state_store::~state_store() {
  if (disk_.joinable()) {
    {
      const std::lock_guard lock(disk_mutex_);
      disk_stopping_ = true;
    }
    disk_wake_.notify_one();
    disk_.join();
  }
  if (journal_fd_ >= 0) ::close(journal_fd_);
}

state_store::loaded state_store::load() {
  loaded out;
  out.snapshot.set_format(1);
  out.snapshot.set_next_event_seq(0);  // a fresh journal: the service numbers it from the clock

  std::string problem;
  auto snap = read_file(snapshot_path_);
  auto journal = read_file(journal_path_);
  if (!snap) problem = snap.error().message;
  else if (!journal) problem = journal.error().message;
  else {
    if (*snap) {
      snapshot_bytes_ = (*snap)->size();
      auto decoded = decode_snapshot(**snap);
      if (decoded) out.snapshot = std::move(*decoded);
      else problem = fmt::format("{}: {}", snapshot_path_, decoded.error());
    }
    if (problem.empty() && *journal) {
      auto records = decode_journal(**journal);
      if (!records) problem = fmt::format("{}: {}", journal_path_, records.error());
      else
        for (const auto& r : *records) apply_record(out.snapshot, r);
    }
  }
  if (!problem.empty()) {
    // Fail closed: keep the evidence, start with no grants. The kernel table is replaced at start,
    // so nothing the bad file described stays open.
    const std::string suffix = ".corrupt-" + utc_stamp();
    std::string kept;
    for (const auto* p : {&snapshot_path_, &journal_path_}) {
      if (::rename(p->c_str(), (*p + suffix).c_str()) == 0) kept += (kept.empty() ? "" : ", ") + *p + suffix;
    }
    out.snapshot.Clear();
    out.snapshot.set_format(1);
    out.snapshot.set_next_event_seq(0);  // a fresh journal, as when there was no file
    out.corrupt = fmt::format("The state could not be read ({}); it was kept as {} and the helper started with no grants.",
                              problem, kept.empty() ? "nothing (rename failed)" : kept);
    snapshot_bytes_ = 0;
  }
  journal_bytes_ = (problem.empty() && journal && *journal) ? (*journal)->size() : 0;
  return out;
}

fallible<void> state_store::open_journal() {
  if (journal_fd_ >= 0) return {};
  journal_fd_ = ::open(journal_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (journal_fd_ < 0) return fail(fmt::format("cannot open the state journal {}: {}", journal_path_, errno_text()));
  return {};
}

fallible<void> state_store::append(const std::vector<state::JournalRecord>& records) {
  return write_durably(encode_journal(records));
}

void state_store::begin_append(const std::vector<state::JournalRecord>& records) {
  std::string text = encode_journal(records);  // on the caller's thread: the disk thread only writes
  if (!disk_.joinable()) disk_ = std::thread([this] { disk_loop(); });
  {
    const std::lock_guard lock(disk_mutex_);
    disk_job_ = std::move(text);
    disk_done_.reset();
    appending_ = true;
  }
  disk_wake_.notify_one();
}

fallible<void> state_store::finish_append() {
  std::unique_lock lock(disk_mutex_);
  if (!appending_) return fail("the state journal has no append under way (a helper bug)");
  disk_wake_.wait(lock, [this] { return disk_done_.has_value(); });
  appending_ = false;
  return *std::exchange(disk_done_, std::nullopt);
}

void state_store::disk_loop() {
  std::unique_lock lock(disk_mutex_);
  for (;;) {
    disk_wake_.wait(lock, [this] { return disk_stopping_ || disk_job_.has_value(); });
    if (disk_job_) {
      const std::string text = *std::exchange(disk_job_, std::nullopt);
      lock.unlock();  // the caller changes the kernel meanwhile; it waits in finish_append
      auto outcome = write_durably(text);
      lock.lock();
      disk_done_ = std::move(outcome);
      disk_wake_.notify_all();
      continue;
    }
    return;  // stopping, with no append under way
  }
}

fallible<void> state_store::write_durably(const std::string& text) {
  if (auto r = open_journal(); !r) return r;
  if (!write_all(journal_fd_, text) || ::fdatasync(journal_fd_) != 0) {
    const auto err = fmt::format("cannot append to the state journal {}: {}", journal_path_, errno_text());
    // The tail may hold a partial line: truncate back so the next append starts on a line boundary.
    if (::ftruncate(journal_fd_, static_cast<off_t>(journal_bytes_)) != 0) {
      ::close(journal_fd_);
      journal_fd_ = -1;
    }
    return fail(err);
  }
  journal_bytes_ += text.size();
  journal_syncs_.fetch_add(1, std::memory_order_relaxed);
  return {};
}

fallible<void> state_store::write_snapshot(const state::Snapshot& snapshot) {
  return write_snapshot(snapshot_source{
      snapshot.next_event_seq(),
      [&](const auto& emit) {
        for (const auto& g : snapshot.grants()) emit(g);
      },
      [&](const auto& emit) {
        for (const auto& e : snapshot.events()) emit(e);
      }});
}

fallible<void> state_store::write_snapshot(const snapshot_source& source) {
  const std::string tmp = snapshot_path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail(fmt::format("cannot create {}: {}", tmp, errno_text()));
  // Written through a 64 KiB buffer, one grant at a time.
  std::string buffer;
  std::size_t total = 0;
  bool ok = true;
  const auto put = [&](std::string piece) {
    buffer += piece;
    if (buffer.size() >= 65536) {
      ok = ok && write_all(fd, buffer);
      total += buffer.size();
      buffer.clear();
    }
  };
  put(snapshot_layout::head(source.next_event_seq));
  bool first = true;
  source.for_each_grant([&](const v1::Grant& g) { put(snapshot_layout::grant(g, std::exchange(first, false))); });
  put(snapshot_layout::middle());
  first = true;
  source.for_each_event([&](const v1::Event& e) { put(snapshot_layout::event(e, std::exchange(first, false))); });
  put(snapshot_layout::tail());
  ok = ok && write_all(fd, buffer);
  total += buffer.size();
  if (!ok || ::fsync(fd) != 0) {
    const auto err = fmt::format("cannot write {}: {}", tmp, errno_text());
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail(err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), snapshot_path_.c_str()) != 0) {
    const auto err = fmt::format("cannot replace {}: {}", snapshot_path_, errno_text());
    ::unlink(tmp.c_str());
    return fail(err);
  }
  const std::string dir = std::filesystem::path(snapshot_path_).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  snapshot_bytes_ = total;
  // The snapshot now holds everything: the journal can start over. Replaying stale records would
  // be harmless (apply_record is idempotent), so a crash before this truncate loses nothing.
  if (auto r = open_journal(); !r) return r;
  if (::ftruncate(journal_fd_, 0) != 0) return fail(fmt::format("cannot truncate {}: {}", journal_path_, errno_text()));
  ::fdatasync(journal_fd_);
  journal_bytes_ = 0;
  ::malloc_trim(0);  // the write's buffers and the replaced journal's memory go back to the system
  return {};
}

bool state_store::wants_compaction() const {
  return journal_bytes_ > std::max(min_compaction_bytes, snapshot_bytes_);
}

}  // namespace smsbridge::firewall
