// The state file on disk: an atomically replaced snapshot plus an fdatasync'd append-only journal.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"

#include "state.pb.h"

namespace smsbridge::firewall {

class state_store {
 public:
  // snapshot_path is port_mappings.json; the journal lives beside it as "<path>.journal".
  explicit state_store(std::string snapshot_path);
  ~state_store();
  state_store(const state_store&) = delete;
  state_store& operator=(const state_store&) = delete;

  struct loaded {
    // Empty (format 1, next_event_seq 0) when nothing was there or it was corrupt: next_event_seq 0
    // says the journal begins afresh and its first number is the service's to choose.
    state::Snapshot snapshot;
    std::optional<std::string> corrupt;  // a sentence: what was wrong and where the bad files were kept
  };

  // Reads the snapshot and replays the journal. A corrupt file is renamed aside to
  // "<name>.corrupt-<UTC time>" and an empty state is returned, so the helper starts fail-closed.
  // A snapshot that records no next_event_seq (0) is also read as a fresh journal.
  loaded load();

  // Appends records with one write and one fdatasync. Fails with a sentence on I/O error.
  fallible<void> append(const std::vector<state::JournalRecord>& records);

  // The same append on the store's disk thread: begin_append returns at once, so that the caller
  // can change the kernel while the disk syncs, and finish_append waits for the outcome. Between
  // the two no other member may be called (the disk thread owns the journal meanwhile); every
  // begin_append must be finished.
  void begin_append(const std::vector<state::JournalRecord>& records);
  fallible<void> finish_append();

  // What a snapshot holds, produced piece by piece so that no second copy of the state is built.
  struct snapshot_source {
    std::uint64_t next_event_seq = 1;
    std::function<void(const std::function<void(const v1::Grant&)>&)> for_each_grant;
    std::function<void(const std::function<void(const v1::Event&)>&)> for_each_event;
  };

  // Replaces the snapshot atomically (tmp + fsync + rename + fsync dir), then empties the journal.
  fallible<void> write_snapshot(const snapshot_source& source);
  fallible<void> write_snapshot(const state::Snapshot& snapshot);

  // True when the journal has grown enough that a snapshot is worth writing (amortised O(1) per change).
  bool wants_compaction() const;

  const std::string& path() const { return snapshot_path_; }

  // Journal appends made durable so far (each one write and one fdatasync): what an open-many saves.
  std::uint64_t journal_syncs() const { return journal_syncs_.load(std::memory_order_relaxed); }

 private:
  fallible<void> open_journal();
  fallible<void> write_durably(const std::string& text);
  void disk_loop();

  std::string snapshot_path_;
  std::string journal_path_;
  int journal_fd_ = -1;
  std::size_t journal_bytes_ = 0;
  std::size_t snapshot_bytes_ = 0;
  std::atomic<std::uint64_t> journal_syncs_{0};  // written on the disk thread too

  // The disk thread, started by the first begin_append; it sleeps on disk_wake_ between appends.
  std::thread disk_;
  std::mutex disk_mutex_;
  std::condition_variable disk_wake_;
  std::optional<std::string> disk_job_;               // text to append, set by begin_append
  std::optional<fallible<void>> disk_done_;           // its outcome, taken by finish_append
  bool disk_stopping_ = false;
  bool appending_ = false;                            // between begin_append and finish_append
};

}  // namespace smsbridge::firewall
