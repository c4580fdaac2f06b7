// What this binary was built from: the project version and the git revision, for --version and metrics.
#pragma once

#include <string>
#include <string_view>

namespace smsbridge {

// The project version, CMakeLists.txt's VERSION (for example "2.3.0").
std::string_view build_version();

// The git revision the build came from: a short commit hash with "-dirty" appended when tracked
// files differed from it at build time; "unknown" when built outside git (a tarball), unless the
// build was configured with -DSMS_BRIDGE_REVISION=TEXT.
std::string_view build_revision();

// The --version line: "PROGRAM VERSION (revision REVISION)\n".
std::string version_text(std::string_view program);

}  // namespace smsbridge
