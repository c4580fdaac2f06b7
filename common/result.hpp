// The project's result alias: a value, or a failure holding one sentence for a person.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include <boost/system/result.hpp>
#include <fmt/format.h>

namespace smsbridge {

// A distinct type that nothing converts into implicitly (made only by fail()), so that
// fallible<std::string> stays unambiguous.
class failure {
 public:
  failure() = default;  // result<T, E>::error() needs it; holds an empty message
  std::string message;

 private:
  explicit failure(std::string m) : message(std::move(m)) {}
  friend failure fail(std::string message);
};

template <class T>
using fallible = boost::system::result<T, failure>;

inline failure fail(std::string message) { return failure(std::move(message)); }

inline std::ostream& operator<<(std::ostream& os, const failure& f) { return os << f.message; }

}  // namespace smsbridge

template <>
struct fmt::formatter<smsbridge::failure> : fmt::formatter<std::string_view> {
  auto format(const smsbridge::failure& f, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(f.message, ctx);
  }
};
