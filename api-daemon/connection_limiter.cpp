// Caps on HTTP connections (see the header).
#include "api-daemon/connection_limiter.hpp"

namespace smsbridge::api {

connection_limiter::verdict connection_limiter::admit(const std::string& source, bool exempt_per_source) {
  if (total_ >= total_cap_) return verdict::server_full;
  if (!exempt_per_source) {
    auto& n = per_source_[source];
    if (n >= per_source_cap_) return verdict::source_full;  // n ≥ 1 here: the entry is not left empty
    ++n;
  }
  ++total_;
  return verdict::admitted;
}

void connection_limiter::release(const std::string& source, bool exempt_per_source) {
  if (total_ > 0) --total_;
  if (exempt_per_source) return;
  auto it = per_source_.find(source);
  if (it == per_source_.end()) return;
  if (--it->second == 0) per_source_.erase(it);
}

}  // namespace smsbridge::api
