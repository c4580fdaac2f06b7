// Sealed secrets (the outbox's PINs at rest): they round-trip under the same key only, reveal
// nothing of the plaintext, differ every time, and anything tampered with does not open.
#include <catch2/catch.hpp>

#include <string>

#include "api-daemon/crypto.hpp"

using namespace smsbridge::api;

TEST_CASE("a sealed PIN opens under its key only and shows nothing of the PIN") {
  REQUIRE(init_crypto());
  const std::string key = "hmac-secret-0123456789";
  const auto sealed = seal_secret(key, "1234");
  CHECK(sealed.rfind("v1:", 0) == 0);
  CHECK(sealed.find("1234") == std::string::npos);
  CHECK(sealed.find(to_hex("1234")) == std::string::npos);
  CHECK(open_secret(key, sealed) == std::optional<std::string>("1234"));
  CHECK(seal_secret(key, "1234") != sealed);  // a fresh nonce each time
  CHECK_FALSE(open_secret("another-secret-0123456789", sealed));
}

TEST_CASE("a tampered, truncated or plaintext value does not open") {
  REQUIRE(init_crypto());
  const std::string key = "hmac-secret-0123456789";
  auto sealed = seal_secret(key, "87654321");
  std::string flipped = sealed;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  CHECK_FALSE(open_secret(key, flipped));
  CHECK_FALSE(open_secret(key, sealed.substr(0, sealed.size() - 2)));
  CHECK_FALSE(open_secret(key, sealed.substr(0, 10)));
  CHECK_FALSE(open_secret(key, "1234"));
  CHECK_FALSE(open_secret(key, "v1:zz"));
  CHECK_FALSE(open_secret(key, "v1:" + std::string(5000, 'a')));
}
