// A service manager that records what a daemon tells it, for unit tests of sd_notify users.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/sd_notify.hpp"

namespace smsbridge::testing {

struct fake_notifier final : service_notifier {
  std::vector<std::string> messages;
  bool notify(std::string_view message) override {
    messages.emplace_back(message);
    return true;
  }
  std::size_t count(std::string_view message) const {
    std::size_t n = 0;
    for (const auto& m : messages) n += m == message;
    return n;
  }
};

}  // namespace smsbridge::testing
