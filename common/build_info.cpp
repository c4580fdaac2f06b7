// The --version line; the values themselves are in the generated build_info_values.cpp.
#include "common/build_info.hpp"

#include <fmt/format.h>

namespace smsbridge {

std::string version_text(std::string_view program) {
  return fmt::format("{} {} (revision {})\n", program, build_version(), build_revision());
}

}  // namespace smsbridge
