// The build's version and revision, as --version prints them (tests/integration/cli_test.py
// checks the revision against git).
#include <catch2/catch.hpp>

#include <string>

#include "common/build_info.hpp"

TEST_CASE("the build version is the project's VERSION") {
  CHECK(smsbridge::build_version() == SMS_BRIDGE_VERSION);
}

TEST_CASE("the version line names the program, the version and the revision") {
  CHECK(smsbridge::version_text("sms-bridge-fwctl") ==
        "sms-bridge-fwctl " SMS_BRIDGE_VERSION " (revision " + std::string(smsbridge::build_revision()) + ")\n");
}
