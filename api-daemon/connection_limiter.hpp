// Caps on HTTP connections, in total and per source address. No I/O.
#pragma once

#include <cstddef>
#include <map>
#include <string>

namespace smsbridge::api {

class connection_limiter {
 public:
  connection_limiter(std::size_t total, std::size_t per_source) : total_cap_(total), per_source_cap_(per_source) {}

  enum class verdict { admitted, server_full, source_full };
  // Admits a new connection from `source` unless the server or that source is at its cap.
  // `exempt_per_source`: a proxy or this host, whose one address stands for many clients (the
  // total cap still applies). An admitted connection must be released exactly once.
  verdict admit(const std::string& source, bool exempt_per_source);
  void release(const std::string& source, bool exempt_per_source);

  std::size_t open() const { return total_; }
  std::size_t sources() const { return per_source_.size(); }  // bounded by the total cap

 private:
  std::size_t total_cap_, per_source_cap_;
  std::size_t total_ = 0;
  std::map<std::string, std::size_t> per_source_;
};

}  // namespace smsbridge::api
