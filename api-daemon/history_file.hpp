// The metrics history's file: the store's records appended with fdatasync after each tick, and
// the whole file replaced (write, fsync, rename) when it has grown well past what the store
// keeps. A tail torn by a crash is cut off at load, never read as samples.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "api-daemon/history_store.hpp"
#include "common/result.hpp"

namespace smsbridge::api::history {

class history_file {
 public:
  // Opens path (creating it), loads it into `into` (an empty store) and cuts a torn tail off. A
  // file that is not a history file is renamed aside (path.not-history), not overwritten.
  // `report` gets a sentence for the log about what was loaded or dropped.
  static fallible<history_file> open(const std::string& path, store& into, std::string& report);
  history_file(history_file&& other) noexcept;
  history_file& operator=(history_file&&) = delete;
  history_file(const history_file&) = delete;
  ~history_file();

  fallible<void> append(std::string_view records);
  // Replaces the file with the magic and everything `from` keeps (store::snapshot). `from` is
  // only read, record by record, while this runs.
  fallible<void> rewrite(const store& from);
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  history_file(std::string path, int fd, std::size_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  std::string path_;
  int fd_ = -1;
  std::size_t size_ = 0;
};

}  // namespace smsbridge::api::history
