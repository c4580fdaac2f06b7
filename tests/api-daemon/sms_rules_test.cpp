// The SMS rules: numbers, codes, the SMS text, masking, and the SMS settings.
#include <catch2/catch.hpp>

#include "result_string_maker.hpp"

#include "api-daemon/base32.hpp"
#include "api-daemon/crypto.hpp"
#include "api-daemon/sms_rules.hpp"

using namespace smsbridge::api;

TEST_CASE("numbers must be E.164") {
  CHECK(is_e164("+919876543210"));
  CHECK(is_e164("+14155552671"));
  CHECK_FALSE(is_e164("919876543210"));
  CHECK_FALSE(is_e164("+0123456789"));
  CHECK_FALSE(is_e164("+91 98765 43210"));
  CHECK_FALSE(is_e164("+1234567"));
  CHECK_FALSE(is_e164("+1234567890123456"));
  CHECK(number_in_countries("+919876543210", {"+91"}));
  CHECK_FALSE(number_in_countries("+14155552671", {"+91", "+44"}));
}

TEST_CASE("base32 follows RFC 4648") {
  CHECK(base32_encode("") == "");
  CHECK(base32_encode("f") == "MY");
  CHECK(base32_encode("fo") == "MZXQ");
  CHECK(base32_encode("foo") == "MZXW6");
  CHECK(base32_encode("foobar") == "MZXW6YTBOI");
}

TEST_CASE("the code is Base32(HMAC-SHA256(secret, mobile + timestamp)) cut to its length") {
  REQUIRE(init_crypto());
  const std::string code = onboarding_code("a secret of some length", "+919876543210", 1800000000, 8);
  CHECK(code.size() == 8);
  CHECK(code == base32_encode(hmac_sha256("a secret of some length", "+9198765432101800000000")).substr(0, 8));
  CHECK(code != onboarding_code("a secret of some length", "+919876543210", 1800000001, 8));
  CHECK(code != onboarding_code("another secret entirely", "+919876543210", 1800000000, 8));
  // RFC 4231 test case 2 for the HMAC itself.
  CHECK(base32_encode(hmac_sha256("Jefe", "what do ya want for nothing?")).substr(0, 8) ==
        base32_encode(std::string("\x5b\xdc\xc1\x46\xbf\x60\x75\x4e", 8)).substr(0, 8));
}

TEST_CASE("the SMS text must be the prefix and a code of the right length") {
  CHECK(read_sms_text("ONBOARD:ABCD2345", "ONBOARD:", 8).code == std::optional<std::string>("ABCD2345"));
  CHECK(read_sms_text("  ONBOARD:abcd2345\n", "ONBOARD:", 8).code == std::optional<std::string>("ABCD2345"));
  CHECK(read_sms_text("JOIN:ABCD2345", "ONBOARD:", 8).problem == "wrong prefix");
  CHECK(read_sms_text("ONBOARD:ABCD234", "ONBOARD:", 8).problem == "wrong length");
  CHECK(read_sms_text("ONBOARD:ABCD2341", "ONBOARD:", 8).problem == "bad characters");
}

TEST_CASE("numbers are masked in logs") {
  CHECK(mask_number("+919876543210") == "+91******3210");
  CHECK(mask_number("+123") == "****");
}

TEST_CASE("SMS settings: defaults, the seed's extra keys ignored, mistakes named") {
  auto s = parse_sms_settings(R"({"settings": {"validation_checks": {"count_check": {"enabled": false, "failure_action": "reject"}},
                                               "allowed_countries": ["+91", "+44"], "hash_length": 10, "rate_limits": {}}})");
  REQUIRE(s);
  CHECK_FALSE(s->count_check);
  CHECK(s->header_hash_check);
  CHECK(s->hash_length == 10);
  CHECK(s->allowed_countries.size() == 2);
  CHECK(s->allowed_prefix == "ONBOARD:");
  auto bad = parse_sms_settings(R"({"settings": {"hash_length": 3}})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("settings.hash_length") != std::string::npos);
  CHECK_FALSE(parse_sms_settings(R"({"settings": {"sync_url": "ftp://x"}})"));
  CHECK_FALSE(parse_sms_settings(R"({"settings": {"sms_receiver_number": "12345"}})"));
}
