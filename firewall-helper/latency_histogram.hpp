// A fixed-bucket latency histogram, bounded in size whatever it observes: what the helper reports
// of its nft batches in Status, for the api-daemon to export in the Prometheus format.
#pragma once

#include <array>
#include <cstdint>

#include "firewall.pb.h"

namespace smsbridge::firewall {

class latency_histogram {
 public:
  // From 100 µs (an idle netlink round trip) to 1 s (a table of ten thousand grants).
  static constexpr std::array<double, 12> upper_bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                       0.01,   0.025,   0.05,   0.1,   0.25,   1.0};

  void observe(double seconds) {
    for (std::size_t i = 0; i < upper_bounds.size(); ++i) {
      if (seconds <= upper_bounds[i]) ++counts_[i];
    }
    ++count_;
    sum_ += seconds;
  }

  void fill(v1::Histogram& out) const {
    out.Clear();
    for (std::size_t i = 0; i < upper_bounds.size(); ++i) {
      out.add_upper_bounds(upper_bounds[i]);
      out.add_counts(counts_[i]);
    }
    out.set_count(count_);
    out.set_sum(sum_);
  }

 private:
  std::array<std::uint64_t, upper_bounds.size()> counts_{};  // cumulative, as exposed
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace smsbridge::firewall
