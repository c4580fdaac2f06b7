// The one wrapper around libnetfilter_conntrack: deletes the conntrack entries of a closed grant.
#pragma once

#include <cstdint>

#include "common/result.hpp"
#include <string>

#include "firewall-helper/net_types.hpp"

struct nfct_handle;

namespace smsbridge::firewall {

using smsbridge::fail;
using smsbridge::failure;
using smsbridge::fallible;

// An interface so the helper core can be tested without the kernel.
class flow_cutter {
 public:
  virtual ~flow_cutter() = default;
  // Deletes every TCP flow that carries our mark, came from `source` and was addressed to
  // `external_port`. Returns how many were deleted, or a sentence on failure.
  virtual fallible<unsigned> cut(const cidr& source, std::uint16_t external_port) = 0;
};

class conntrack_cutter final : public flow_cutter {
 public:
  // Throws std::runtime_error if the conntrack netlink socket cannot be opened.
  explicit conntrack_cutter(std::uint32_t mark_bit);
  ~conntrack_cutter() override;
  conntrack_cutter(const conntrack_cutter&) = delete;
  conntrack_cutter& operator=(const conntrack_cutter&) = delete;

  fallible<unsigned> cut(const cidr& source, std::uint16_t external_port) override;

 private:
  nfct_handle* handle_;
  std::uint32_t mark_bit_;
};

}  // namespace smsbridge::firewall
