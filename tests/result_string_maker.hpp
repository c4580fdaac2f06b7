// Lets Catch2 print a boost::system::result in a failed assertion (as "value" or its error).
#pragma once

#include <sstream>

#include <boost/system/result.hpp>
#include <catch2/catch.hpp>

namespace Catch {
template <class T, class E>
struct StringMaker<boost::system::result<T, E>> {
  static std::string convert(const boost::system::result<T, E>& r) {
    if (r) return "a value";
    std::ostringstream os;
    os << "error: " << r.error();
    return os.str();
  }
};
}  // namespace Catch
