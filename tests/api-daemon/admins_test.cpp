// The admin CLI's pure parts: the password rule and admin list's table.
#include <catch2/catch.hpp>

#include "result_string_maker.hpp"

#include "api-daemon/admins.hpp"

using namespace smsbridge::api;

TEST_CASE("a new admin password has at least 12 characters") {
  auto short_one = check_admin_password("elevenchars");
  REQUIRE_FALSE(short_one);
  CHECK(short_one.error().message == "the password must be at least 12 characters; this one has 11.");
  CHECK(check_admin_password("twelve chars"));
  auto empty = check_admin_password("");
  REQUIRE_FALSE(empty);
  CHECK(empty.error().message == "the password must be at least 12 characters; this one has 0.");
}

TEST_CASE("characters are counted, not bytes: eleven accented letters are too few") {
  const std::string eleven = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";  // 22 bytes
  REQUIRE(eleven.size() == 22);
  CHECK_FALSE(check_admin_password(eleven));
  CHECK(check_admin_password(eleven + "\xc3\xa9"));
}

TEST_CASE("a new admin password has at most 256 characters") {
  CHECK(check_admin_password(std::string(256, 'p')));
  auto long_one = check_admin_password(std::string(257, 'p'));
  REQUIRE_FALSE(long_one);
  CHECK(long_one.error().message == "the password must be at most 256 characters; this one has 257.");
}

TEST_CASE("the examples' CHANGE-ME is refused in any case, also inside a longer password") {
  for (const char* p : {"CHANGE-ME", "change-me", "Change-Me", "CHANGE-ME-0123456789", "my change-me password"}) {
    auto refused = check_admin_password(p);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message == "the password is the examples' CHANGE-ME; choose a real one.");
  }
  CHECK(check_admin_password("change me later, ok"));  // no hyphen: not the placeholder
}

TEST_CASE("a refusal never repeats the password") {
  for (const std::string p : {"hunter2", "CHANGE-ME-hunter2"}) {
    auto refused = check_admin_password(p);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("hunter2") == std::string::npos);
  }
}

TEST_CASE("admin list prints a header and one aligned line per admin, with never and none recorded for blanks") {
  const std::vector<admin_summary> admins = {
      {"alice", "2026-01-02T03:04:05Z", "", "", false, 0},
      {"bob.the.operator", "2026-01-02T03:04:06Z", "2026-02-01T00:00:00Z", "2026-03-01T12:00:00Z", true, 9}};
  CHECK(render_admin_list(admins, false) ==
        "NAME              CREATED               PASSWORD CHANGED      LAST LOGIN            TOTP\n"
        "alice             2026-01-02T03:04:05Z  never                 none recorded         off\n"
        "bob.the.operator  2026-01-02T03:04:06Z  2026-02-01T00:00:00Z  2026-03-01T12:00:00Z  on (9 recovery codes left)\n");
}

TEST_CASE("admin list says how to create an admin when there is none, and when it was cut short") {
  CHECK(render_admin_list({}, false) == "no admins yet; create one with: sms-bridge-api admin add NAME\n");
  const auto cut = render_admin_list({{"a", "2026-01-02T03:04:05Z", "", "", false, 0}}, true);
  CHECK(cut.find("(only the first 1 admins, by name)\n") != std::string::npos);
}
