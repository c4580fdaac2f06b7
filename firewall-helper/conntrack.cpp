// The one wrapper around libnetfilter_conntrack. Deleting a closed grant's entries makes the cut
// immediate and lets the target side see the flow end too, not only the client.
#include "firewall-helper/conntrack.hpp"

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "common/log.hpp"

namespace smsbridge::firewall {

namespace {
constexpr std::size_t max_queued_keys = 100000;

struct ct_deleter {
  void operator()(nf_conntrack* ct) const { nfct_destroy(ct); }
};
using ct_ptr = std::unique_ptr<nf_conntrack, ct_deleter>;

struct dump_filter {
  const std::vector<flow_key>* keys;
  std::vector<ct_ptr> matches;
};

int collect(enum nf_conntrack_msg_type, struct nf_conntrack* ct, void* data) {
  auto* f = static_cast<dump_filter*>(data);
  if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_TCP) return NFCT_CB_CONTINUE;
  const std::uint16_t port = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
  ip_address src;
  if (nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO) == AF_INET) {
    const std::uint32_t a = nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC);
    std::memcpy(src.bytes.data(), &a, 4);
  } else {
    src.family = ip_family::v6;
    std::memcpy(src.bytes.data(), nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC), 16);
  }
  for (const auto& key : *f->keys) {
    if (key.external_port == port && key.source.contains(src)) {
      f->matches.emplace_back(nfct_clone(ct));
      break;
    }
  }
  return NFCT_CB_CONTINUE;
}
}  // namespace

conntrack_table::conntrack_table(std::uint32_t mark_bit) : handle_(nfct_open(CONNTRACK, 0)), mark_bit_(mark_bit) {
  if (!handle_) throw std::runtime_error(fmt::format("cannot open the conntrack netlink socket: {}", std::strerror(errno)));
}

conntrack_table::~conntrack_table() { nfct_close(handle_); }

fallible<unsigned> conntrack_table::delete_flows(const std::vector<flow_key>& keys) {
  dump_filter f{&keys, {}};
  // The kernel filters by our mark, so only our flows cross into user space.
  std::unique_ptr<nfct_filter_dump, decltype(&nfct_filter_dump_destroy)> filter(nfct_filter_dump_create(),
                                                                                &nfct_filter_dump_destroy);
  if (!filter) return fail("cannot allocate a conntrack dump filter.");
  nfct_filter_dump_mark mark{mark_bit_, mark_bit_};
  nfct_filter_dump_set_attr(filter.get(), NFCT_FILTER_DUMP_MARK, &mark);
  nfct_callback_register(handle_, NFCT_T_ALL, collect, &f);
  const int rc = nfct_query(handle_, NFCT_Q_DUMP_FILTER, filter.get());
  nfct_callback_unregister(handle_);
  if (rc < 0) return fail(fmt::format("cannot list conntrack entries: {}", std::strerror(errno)));
  unsigned deleted = 0;
  for (const auto& ct : f.matches) {
    // ENOENT: the flow ended on its own meanwhile, which is what we wanted.
    if (nfct_query(handle_, NFCT_Q_DESTROY, ct.get()) == 0 || errno == ENOENT) ++deleted;
  }
  return deleted;
}

background_flow_cutter::background_flow_cutter(std::uint32_t mark_bit) : table_(mark_bit), worker_([this] { run(); }) {}

background_flow_cutter::~background_flow_cutter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  worker_.join();
}

void background_flow_cutter::cut(const cidr& source, std::uint16_t external_port) {
  {
    std::lock_guard lock(mutex_);
    // Bounded: past this many pending keys, the guard chain alone ends the flows.
    if (queue_.size() < max_queued_keys) queue_.push_back(flow_key{source, external_port});
  }
  wake_.notify_one();
}

void background_flow_cutter::run() {
  // The dump is housekeeping: let the thread that answers requests have the CPU first. Under the
  // unit's SystemCallFilter=~@resources this fails (EPERM) and the thread keeps the normal priority.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    std::vector<flow_key> batch;
    batch.swap(queue_);
    lock.unlock();
    if (auto r = table_.delete_flows(batch); !r) {
      log::error("cannot cut the flows of {} closed door(s); the guard chain still resets them: {}", batch.size(), r.error());
    }
    lock.lock();
  }
}

}  // namespace smsbridge::firewall
