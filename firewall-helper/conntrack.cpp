// The one wrapper around libnetfilter_conntrack. Deleting the entries gives the client a clean
// RST at its next packet instead of a flow that hangs until it times out.
#include "firewall-helper/conntrack.hpp"

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace smsbridge::firewall {

namespace {
struct ct_deleter {
  void operator()(nf_conntrack* ct) const { nfct_destroy(ct); }
};
using ct_ptr = std::unique_ptr<nf_conntrack, ct_deleter>;

struct dump_filter {
  const cidr* source;
  std::uint16_t port_be;
  std::vector<ct_ptr> matches;
};

int collect(enum nf_conntrack_msg_type, struct nf_conntrack* ct, void* data) {
  auto* f = static_cast<dump_filter*>(data);
  if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_TCP) return NFCT_CB_CONTINUE;
  if (nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST) != f->port_be) return NFCT_CB_CONTINUE;
  ip_address src;
  if (f->source->network.family == ip_family::v4) {
    const std::uint32_t a = nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC);
    std::memcpy(src.bytes.data(), &a, 4);
  } else {
    src.family = ip_family::v6;
    std::memcpy(src.bytes.data(), nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC), 16);
  }
  if (!f->source->contains(src)) return NFCT_CB_CONTINUE;
  f->matches.emplace_back(nfct_clone(ct));
  return NFCT_CB_CONTINUE;
}
}  // namespace

conntrack_cutter::conntrack_cutter(std::uint32_t mark_bit) : handle_(nfct_open(CONNTRACK, 0)), mark_bit_(mark_bit) {
  if (!handle_) throw std::runtime_error(fmt::format("cannot open the conntrack netlink socket: {}", std::strerror(errno)));
}

conntrack_cutter::~conntrack_cutter() { nfct_close(handle_); }

fallible<unsigned> conntrack_cutter::cut(const cidr& source, std::uint16_t external_port) {
  dump_filter f{&source, htons(external_port), {}};
  // Let the kernel filter by our mark and family so the dump stays small on a busy host.
  std::unique_ptr<nfct_filter_dump, decltype(&nfct_filter_dump_destroy)> filter(nfct_filter_dump_create(),
                                                                                &nfct_filter_dump_destroy);
  if (!filter) return fail("cannot allocate a conntrack dump filter.");
  nfct_filter_dump_mark mark{mark_bit_, mark_bit_};
  nfct_filter_dump_set_attr(filter.get(), NFCT_FILTER_DUMP_MARK, &mark);
  nfct_filter_dump_set_attr_u8(filter.get(), NFCT_FILTER_DUMP_L3NUM,
                               source.network.family == ip_family::v4 ? AF_INET : AF_INET6);
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

}  // namespace smsbridge::firewall
