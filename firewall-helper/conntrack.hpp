// The one wrapper around libnetfilter_conntrack: deletes the conntrack entries of closed grants.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "proto/net_types.hpp"

struct nfct_handle;

namespace smsbridge::firewall {

// The flows of one closed grant: TCP, carrying our mark, from `source` to `external_port`.
struct flow_key {
  cidr source;
  std::uint16_t external_port = 0;
};

// An interface so the helper core can be tested without the kernel.
class flow_cutter {
 public:
  virtual ~flow_cutter() = default;
  // Deletes (now or very soon) the conntrack entries of a closed grant. Never fails to the
  // caller: the guard chain already resets those flows, this makes the cut immediate and clean.
  virtual void cut(const cidr& source, std::uint16_t external_port) = 0;
};

// Synchronous deletion through one long-lived conntrack netlink socket.
class conntrack_table {
 public:
  // Throws std::runtime_error if the conntrack netlink socket cannot be opened.
  explicit conntrack_table(std::uint32_t mark_bit);
  ~conntrack_table();
  conntrack_table(const conntrack_table&) = delete;
  conntrack_table& operator=(const conntrack_table&) = delete;

  // One dump of our marked flows (the kernel filters by mark), deleting those matching any key.
  // Returns how many were deleted. The dump walks the whole conntrack hash table (~5 ms with
  // 262,144 buckets), so callers batch keys rather than dump per key.
  fallible<unsigned> delete_flows(const std::vector<flow_key>& keys);

 private:
  nfct_handle* handle_;
  std::uint32_t mark_bit_;
};

// Runs deletions on a worker thread, so a close answers without waiting for the dump. Keys that
// arrive while a dump runs are handled together by the next one. The worker sleeps on a
// condition variable: no wake-ups while nothing is closed.
class background_flow_cutter final : public flow_cutter {
 public:
  // Logs an error (common/log.hpp, from the worker thread) for each failed dump.
  explicit background_flow_cutter(std::uint32_t mark_bit);
  ~background_flow_cutter() override;  // finishes queued deletions, then joins

  void cut(const cidr& source, std::uint16_t external_port) override;

 private:
  void run();

  conntrack_table table_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<flow_key> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace smsbridge::firewall
