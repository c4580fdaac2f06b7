// A blocking client of the helper protocol, for sms-bridge-fwctl, the benchmarks and tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.hpp"

#include "firewall.pb.h"

namespace smsbridge::firewall {

class helper_client {
 public:
  // Connects to the helper's socket. Fails with a sentence naming the path.
  static fallible<helper_client> connect(const std::string& socket_path,
                                                                   std::chrono::milliseconds timeout);
  helper_client(helper_client&&) noexcept;
  helper_client& operator=(helper_client&&) noexcept;
  ~helper_client();

  // Sends the request (its request_id is set here) and waits for the matching response.
  // Fails with a sentence on a connection, framing or timeout error.
  fallible<v1::Response> call(v1::Request request);

 private:
  struct impl;
  explicit helper_client(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace smsbridge::firewall
