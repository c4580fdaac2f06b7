// The second factor: TOTP against the RFCs' vectors, base32, the URI, recovery codes, the sealed
// secret, and the gate's rules (login, Basic state changes, the session's step-up, replay,
// REQUIRE_TOTP, the throttle) against a fake admin store and a settable clock.
#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <fmt/format.h>

#include "api-daemon/admin_gate.hpp"
#include "api-daemon/admin_totp.hpp"
#include "api-daemon/api_config.hpp"
#include "api-daemon/crypto.hpp"
#include "api-daemon/qr_terminal.hpp"
#include "api-daemon/totp.hpp"
#include "tests/api-daemon/fakes.hpp"

using namespace smsbridge::api;
using namespace smsbridge::api::testing;

namespace {
const std::string rfc_secret = "12345678901234567890";  // RFC 4226 Appendix D, RFC 6238 Appendix B (SHA-1)
}  // namespace

TEST_CASE("HOTP gives RFC 4226's codes for counters 0 to 9") {
  const std::vector<std::string> expected = {"755224", "287082", "359152", "969429", "338314",
                                             "254676", "287922", "162583", "399871", "520489"};
  for (std::uint64_t i = 0; i < expected.size(); ++i) CHECK(hotp_code(rfc_secret, i) == expected[i]);
}

TEST_CASE("TOTP gives RFC 6238's SHA-1 codes (their last six digits) at its test times") {
  const std::vector<std::pair<std::int64_t, std::string>> vectors = {
      {59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"},
      {20000000000, "353130"}};
  for (const auto& [time, code] : vectors) CHECK(hotp_code(rfc_secret, static_cast<std::uint64_t>(totp_step(time))) == code);
}

TEST_CASE("a code matches within one step either way, not two, and never for a step already used") {
  const std::int64_t now = totp_step(1234567890);
  const auto code_at = [](std::int64_t step) { return hotp_code(rfc_secret, static_cast<std::uint64_t>(step)); };
  CHECK(match_totp(rfc_secret, code_at(now), now, std::nullopt) == now);
  CHECK(match_totp(rfc_secret, code_at(now - 1), now, std::nullopt) == now - 1);
  CHECK(match_totp(rfc_secret, code_at(now + 1), now, std::nullopt) == now + 1);
  CHECK(!match_totp(rfc_secret, code_at(now - 2), now, std::nullopt));
  CHECK(!match_totp(rfc_secret, code_at(now + 2), now, std::nullopt));
  // Replay: the step accepted last, or an earlier one, is refused.
  CHECK(!match_totp(rfc_secret, code_at(now), now, now));
  CHECK(!match_totp(rfc_secret, code_at(now - 1), now, now));
  CHECK(match_totp(rfc_secret, code_at(now + 1), now, now) == now + 1);
  CHECK(!match_totp(rfc_secret, "12345", now, std::nullopt));
  CHECK(!match_totp(rfc_secret, "12345a", now, std::nullopt));
}

TEST_CASE("base32 follows RFC 4648's examples (unpadded), decodes either case, refuses other characters") {
  const std::vector<std::pair<std::string, std::string>> vectors = {{"", ""},         {"f", "MY"},           {"fo", "MZXQ"},
                                                                    {"foo", "MZXW6"}, {"foob", "MZXW6YQ"},   {"fooba", "MZXW6YTB"},
                                                                    {"foobar", "MZXW6YTBOI"}};
  for (const auto& [plain, encoded] : vectors) {
    CHECK(base32_encode(plain) == encoded);
    CHECK(base32_decode(encoded) == plain);
  }
  CHECK(base32_decode("mzxw6ytboi======") == std::string("foobar"));
  CHECK(!base32_decode("MZXW1"));  // 1 is not in the alphabet
  CHECK(!base32_decode("M"));      // one symbol is no byte
  const std::string random = random_bytes(totp_secret_bytes);
  CHECK(base32_decode(base32_encode(random)) == random);
}

TEST_CASE("the otpauth URI names the issuer and the admin, with the secret and the defaults") {
  CHECK(otpauth_uri("alice@example.org", "JBSWY3DPEHPK3PXP") ==
        "otpauth://totp/SMS%20Bridge:alice%40example.org?secret=JBSWY3DPEHPK3PXP&issuer=SMS%20Bridge&algorithm=SHA1&digits=6&period=30");
}

TEST_CASE("an enrolment has a 160-bit secret sealed under the key, and ten distinct recovery codes stored only as hashes") {
  REQUIRE(init_crypto());
  const std::string key = "an hmac secret of some length";
  const auto e = new_totp_enrolment("alice", key);
  const auto secret = base32_decode(e.base32_secret);
  REQUIRE(secret);
  CHECK(secret->size() == totp_secret_bytes);
  CHECK(e.uri.find("secret=" + e.base32_secret + "&") != std::string::npos);
  // The round trip, and only under the same key and purpose.
  CHECK(open_secret(key, e.sealed_secret, sealing_purpose::totp_secret) == *secret);
  CHECK(!open_secret("another key entirely", e.sealed_secret, sealing_purpose::totp_secret));
  CHECK(!open_secret(key, e.sealed_secret, sealing_purpose::outbox_pin));
  CHECK(e.sealed_secret.find(e.base32_secret) == std::string::npos);
  REQUIRE(e.recovery_codes.size() == 10);
  std::set<std::string> distinct(e.recovery_codes.begin(), e.recovery_codes.end());
  CHECK(distinct.size() == 10);
  for (std::size_t i = 0; i < 10; ++i) {
    CHECK(e.recovery_codes[i].size() == 11);
    CHECK(e.recovery_codes[i][5] == '-');
    CHECK(e.recovery_hashes[i] == recovery_code_hash(key, e.recovery_codes[i]));
    CHECK(e.recovery_hashes[i].find(normalize_recovery_code(e.recovery_codes[i])) == std::string::npos);
  }
  // Typed in upper case or without the dash, it is the same code; under another key it is not.
  std::string upper = e.recovery_codes[0];
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(recovery_code_hash(key, upper) == e.recovery_hashes[0]);
  CHECK(recovery_code_hash(key, normalize_recovery_code(e.recovery_codes[0])) == e.recovery_hashes[0]);
  CHECK(recovery_code_hash("another key entirely", e.recovery_codes[0]) != e.recovery_hashes[0]);
}

TEST_CASE("the QR code of a URI is drawn as half blocks inside a light quiet zone") {
  const auto modules = qr_modules("otpauth://totp/SMS%20Bridge:alice?secret=JBSWY3DPEHPK3PXP&issuer=SMS%20Bridge");
  REQUIRE(modules);
  CHECK(modules->size() >= 21);
  CHECK((*modules)[0][0]);  // the finder pattern's corner is dark
  const std::string drawn = render_qr(*modules, false);
  const auto lines = static_cast<std::size_t>(std::count(drawn.begin(), drawn.end(), '\n'));
  CHECK(lines == (modules->size() + 4 + 1) / 2);
  CHECK(drawn.starts_with("\u2588\u2588\u2588\u2588"));  // the quiet zone is light
  CHECK(render_qr(*modules, true).starts_with("\x1b[40;97m"));
}

namespace {
const std::pair<std::string, std::string> alice_basic{"Authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5"};
const std::pair<std::string, std::string> bob_basic{"Authorization", "Basic Ym9iOmNvcnJlY3QgaG9yc2UgYmF0dGVyeQ=="};
const std::pair<std::string, std::string> json_type{"Content-Type", "application/json"};
const std::string key = "the hmac secret of this site";

// alice has a second factor (the RFC's secret), bob has none. The clock is settable.
struct totp_site {
  fake_admin_store admins;
  trusted_proxies proxies{{}};
  std::int64_t now = 1234567890;
  basic_auth auth;
  admin_gate gate;
  router routes;
  std::vector<std::string> done;
  explicit totp_site(otp_policy policy = {})
      : auth(admins, {}, key, [this] { return now; }), gate(auth, admins, proxies, policy) {
    REQUIRE(init_crypto());
    admin_record alice{*hash_password("correct horse battery"), 1};
    alice.totp_sealed_secret = seal_secret(key, rfc_secret, sealing_purpose::totp_secret);
    admins.admins["alice"] = alice;
    admins.admins["bob"] = admin_record{*hash_password("correct horse battery"), 1};
    admins.recovery_hashes["alice"] = {recovery_code_hash(key, "abcde-fghij")};
    gate.add_routes(routes);
    const auto echo = [this](const http_request& request, const request_context&, const std::string& admin)
        -> boost::asio::awaitable<http_response> {
      done.push_back(admin + " " + std::string(target_path(request.target())));
      co_return json_response(request, http::status::ok, boost::json::object{{"admin", admin}});
    };
    for (const char* path : {"/admin/monitoring/open-port", "/admin/monitoring/close-port", "/admin/monitoring/services"}) {
      routes.add(http::verb::get, path, gate.require_admin(echo));
      routes.add(http::verb::post, path, gate.require_admin(echo));
    }
  }
  std::string code(int steps_off = 0) const {
    return hotp_code(rfc_secret, static_cast<std::uint64_t>(totp_step(now) + steps_off));
  }
};

bool asks_for_otp(const http_response& r) {
  const auto body = boost::json::parse(r.body()).as_object();
  return r.result() == http::status::unauthorized && body.contains("otp_required") && body.at("otp_required").as_bool() &&
         !body.at("detail").as_string().empty() && r[http::field::www_authenticate].empty();
}
}  // namespace

TEST_CASE("Basic: an enrolled admin's state change needs X-Admin-OTP, right and unused; reads do not") {
  totp_site s;
  const std::string open = "/admin/monitoring/open-port";
  CHECK(call(s.routes, http::verb::get, "/admin/monitoring/services", "", {alice_basic}).result() == http::status::ok);
  CHECK(asks_for_otp(call(s.routes, http::verb::post, open, "{}", {alice_basic, json_type})));
  CHECK(asks_for_otp(call(s.routes, http::verb::post, open, "{}", {alice_basic, json_type, {"X-Admin-OTP", "000000"}})));
  CHECK(s.done == std::vector<std::string>{"alice /admin/monitoring/services"});
  const std::string right = s.code();
  CHECK(call(s.routes, http::verb::post, open, "{}", {alice_basic, json_type, {"X-Admin-OTP", right}}).result() == http::status::ok);
  // The same code again, also a little later within its window: refused.
  CHECK(asks_for_otp(call(s.routes, http::verb::post, open, "{}", {alice_basic, json_type, {"X-Admin-OTP", right}})));
  s.now += 20;
  CHECK(asks_for_otp(call(s.routes, http::verb::post, open, "{}", {alice_basic, json_type, {"X-Admin-OTP", right}})));
  // The next step's code works; a recovery code works once, whatever its case.
  s.now += 30;
  CHECK(call(s.routes, http::verb::post, open, "{}", {alice_basic, json_type, {"X-Admin-OTP", s.code()}}).result() == http::status::ok);
  CHECK(call(s.routes, http::verb::post, open, "{}", {alice_basic, json_type, {"X-Admin-OTP", "ABCDE-FGHIJ"}}).result() ==
        http::status::ok);
  CHECK(asks_for_otp(call(s.routes, http::verb::post, open, "{}", {alice_basic, json_type, {"X-Admin-OTP", "abcde-fghij"}})));
  CHECK(s.done.size() == 4);
  CHECK(std::count(s.admins.events.begin(), s.admins.events.end(), "alice 198.51.100.7 totp failure") == 4);
  // bob has no second factor: he works as before.
  CHECK(call(s.routes, http::verb::post, open, "{}", {bob_basic, json_type}).result() == http::status::ok);
}

TEST_CASE("wrong codes count toward the login throttle, and the right password does not reset the count") {
  totp_site s;
  for (int i = 0; i < 5; ++i) {
    CHECK(asks_for_otp(call(s.routes, http::verb::post, "/admin/login",
                            R"({"username": "alice", "password": "correct horse battery", "otp": "000000"})", {json_type})));
  }
  auto throttled = call(s.routes, http::verb::post, "/admin/login",
                        R"({"username": "alice", "password": "correct horse battery", "otp": ")" + s.code() + R"("})", {json_type});
  CHECK(throttled.result() == http::status::too_many_requests);
}

TEST_CASE("login: an enrolled admin needs otp (401 otp_required without or with a wrong one), then the session has it") {
  totp_site s;
  const auto login = [&](const std::string& otp_field) {
    return call(s.routes, http::verb::post, "/admin/login",
                R"({"username": "alice", "password": "correct horse battery")" + otp_field + "}", {json_type});
  };
  CHECK(asks_for_otp(login("")));
  CHECK(asks_for_otp(login(R"(, "otp": "999999")")));
  CHECK(s.admins.sessions.empty());
  auto good = login(R"(, "otp": ")" + s.code() + "\"");
  REQUIRE(good.result() == http::status::ok);
  REQUIRE(s.admins.sessions.size() == 1);
  CHECK(asks_for_otp(login(R"(, "otp": ")" + s.code() + "\"")));  // the code just used is spent
  CHECK(s.admins.sessions.begin()->second.otp_age_seconds == 0);
  // A form login carries it too.
  s.now += 30;
  auto form = call(s.routes, http::verb::post, "/admin/login", "username=alice&password=correct+horse+battery&otp=" + s.code(),
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  CHECK(form.result() == http::status::ok);
}

TEST_CASE("a browser session steps up to open a door once its code is older than the window, then opens") {
  totp_site s({false, 15});
  REQUIRE(call(s.routes, http::verb::post, "/admin/login",
               R"({"username": "alice", "password": "correct horse battery", "otp": ")" + s.code() + "\"}", {json_type})
              .result() == http::status::ok);
  auto& [token, session] = *s.admins.sessions.begin();
  const std::pair<std::string, std::string> cookie{"Cookie", "sms_bridge_session=" + token};
  const std::pair<std::string, std::string> csrf{"X-CSRF-Token", session.csrf_token};
  const std::string open = "/admin/monitoring/open-port";
  // Fresh: the door opens without asking.
  CHECK(call(s.routes, http::verb::post, open, "{}", {cookie, csrf, json_type}).result() == http::status::ok);
  // 15 minutes later: asked again to open, not to close.
  session.otp_age_seconds = 15 * 60;
  CHECK(asks_for_otp(call(s.routes, http::verb::post, open, "{}", {cookie, csrf, json_type})));
  CHECK(call(s.routes, http::verb::post, "/admin/monitoring/close-port", "{}", {cookie, csrf, json_type}).result() == http::status::ok);
  CHECK(asks_for_otp(call(s.routes, http::verb::post, open, R"({"otp": "123456"})", {cookie, csrf, json_type})));
  s.now += 30;
  CHECK(call(s.routes, http::verb::post, open, R"({"service": "x", "otp": ")" + s.code() + "\"}", {cookie, csrf, json_type}).result() ==
        http::status::ok);
  CHECK(s.admins.sessions.begin()->second.otp_age_seconds == 0);  // the step-up is recorded
  CHECK(call(s.routes, http::verb::post, open, "{}", {cookie, csrf, json_type}).result() == http::status::ok);
  CHECK(s.done.size() == 4);
  // With a window of 0 minutes every opening asks; X-Admin-OTP works as well as the body.
  totp_site always({false, 0});
  s.now += 30;
  REQUIRE(call(always.routes, http::verb::post, "/admin/login",
               R"({"username": "alice", "password": "correct horse battery", "otp": ")" + always.code() + "\"}", {json_type})
              .result() == http::status::ok);
  auto& [token0, session0] = *always.admins.sessions.begin();
  const std::pair<std::string, std::string> cookie0{"Cookie", "sms_bridge_session=" + token0};
  const std::pair<std::string, std::string> csrf0{"X-CSRF-Token", session0.csrf_token};
  CHECK(asks_for_otp(call(always.routes, http::verb::post, open, "{}", {cookie0, csrf0, json_type})));
  always.now += 30;
  CHECK(call(always.routes, http::verb::post, open, "{}", {cookie0, csrf0, json_type, {"X-Admin-OTP", always.code()}}).result() ==
        http::status::ok);
}

TEST_CASE("REQUIRE_TOTP: an admin without a second factor may read but not log in or change anything, told how to enrol") {
  totp_site s({true, 15});
  const auto sentence = [](const http_response& r) { return std::string(boost::json::parse(r.body()).at("detail").as_string()); };
  auto login = call(s.routes, http::verb::post, "/admin/login", R"({"username": "bob", "password": "correct horse battery"})", {json_type});
  CHECK(login.result() == http::status::unauthorized);
  CHECK(sentence(login).find("sms-bridge-api admin totp enable bob") != std::string::npos);
  auto change = call(s.routes, http::verb::post, "/admin/monitoring/open-port", "{}", {bob_basic, json_type});
  CHECK(change.result() == http::status::unauthorized);
  CHECK(sentence(change).find("sms-bridge-api admin totp enable bob") != std::string::npos);
  CHECK(call(s.routes, http::verb::get, "/admin/monitoring/services", "", {bob_basic}).result() == http::status::ok);
  // A session bob had before the rule: it can read and log out, not change anything.
  s.admins.sessions["old-token"] = session_record{"bob", "old-csrf", false, std::nullopt};
  const std::pair<std::string, std::string> cookie{"Cookie", "sms_bridge_session=old-token"}, csrf{"X-CSRF-Token", "old-csrf"};
  CHECK(call(s.routes, http::verb::post, "/admin/monitoring/close-port", "{}", {cookie, csrf, json_type}).result() ==
        http::status::unauthorized);
  CHECK(call(s.routes, http::verb::post, "/admin/logout", "", {cookie, csrf}).result() == http::status::ok);
  CHECK(s.admins.sessions.count("old-token") == 0);
  // alice, enrolled, goes on.
  CHECK(call(s.routes, http::verb::post, "/admin/monitoring/open-port", "{}", {alice_basic, json_type, {"X-Admin-OTP", s.code()}})
            .result() == http::status::ok);
}

TEST_CASE("closing a door needs no code, over Basic or a session, so that doors close while codes cannot be checked") {
  totp_site s;
  CHECK(call(s.routes, http::verb::post, "/admin/monitoring/close-port", "{}", {alice_basic, json_type}).result() == http::status::ok);
  CHECK(asks_for_otp(call(s.routes, http::verb::post, "/admin/monitoring/open-port", "{}", {alice_basic, json_type})));
  CHECK(only_takes_access_away("/admin/monitoring/close-all"));
  CHECK(only_takes_access_away("/admin/logout"));
  CHECK(!only_takes_access_away("/admin/monitoring/open-port"));
}

TEST_CASE("an enrolled admin's session that never gave a code gives one for any change, not only to open a door") {
  totp_site s;
  s.admins.sessions["raced-token"] = session_record{"alice", "raced-csrf", true, std::nullopt};
  const std::pair<std::string, std::string> cookie{"Cookie", "sms_bridge_session=raced-token"}, csrf{"X-CSRF-Token", "raced-csrf"};
  CHECK(asks_for_otp(call(s.routes, http::verb::post, "/admin/monitoring/services", "{}", {cookie, csrf, json_type})));
  CHECK(call(s.routes, http::verb::post, "/admin/monitoring/close-port", "{}", {cookie, csrf, json_type}).result() == http::status::ok);
  CHECK(call(s.routes, http::verb::post, "/admin/monitoring/services", R"({"otp": ")" + s.code() + "\"}", {cookie, csrf, json_type})
            .result() == http::status::ok);
}

TEST_CASE("under attack, one login with password and code is one throttle slot, not two") {
  totp_site s;
  // Ten wrong passwords for alice from ten addresses put her name under attack: one untrusted
  // attempt per interval. The owner's login from a new address must still get through.
  for (int i = 0; i < 10; ++i) {
    const auto wrong = call(s.routes, http::verb::post, "/admin/login",
                            R"({"username": "alice", "password": "wrong wrong wrong", "otp": "000000"})", {json_type},
                            fmt::format("192.0.2.{}", i));
    REQUIRE(wrong.result() == http::status::unauthorized);
  }
  const auto good = call(s.routes, http::verb::post, "/admin/login",
                         R"({"username": "alice", "password": "correct horse battery", "otp": ")" + s.code() + "\"}", {json_type},
                         "203.0.113.9");
  CHECK(good.result() == http::status::ok);
  // The next attempt from yet another address waits for the slot.
  const auto next = call(s.routes, http::verb::post, "/admin/login",
                         R"({"username": "alice", "password": "wrong wrong wrong", "otp": "000000"})", {json_type}, "203.0.113.10");
  CHECK(next.result() == http::status::too_many_requests);
}

TEST_CASE("opens_a_door names open-port, open-all and extend-port, with or without a query") {
  CHECK(opens_a_door("/admin/monitoring/open-port"));
  CHECK(opens_a_door("/admin/monitoring/open-all?x=1"));
  CHECK(opens_a_door("/admin/monitoring/extend-port"));
  CHECK(!opens_a_door("/admin/monitoring/close-port"));
  CHECK(!opens_a_door("/admin/monitoring/open-port-x"));
}

TEST_CASE("the second factor's settings and commands parse, and bad values are refused with a sentence") {
  const auto defaults = parse_command_line({}, {});
  REQUIRE(defaults.has_value());
  CHECK_FALSE(defaults->config.require_totp);
  CHECK(defaults->config.otp_step_up_minutes == 15);
  const auto set = parse_command_line({{"SMS_BRIDGE_REQUIRE_TOTP", "true"}, {"SMS_BRIDGE_OTP_STEP_UP_MINUTES", "0"}}, {});
  REQUIRE(set.has_value());
  CHECK(set->config.require_totp);
  CHECK(set->config.otp_step_up_minutes == 0);
  const auto too_long = parse_command_line({}, {"--otp-step-up-minutes", "1441"});
  REQUIRE_FALSE(too_long.has_value());
  CHECK(too_long.error().message == "--otp-step-up-minutes must be a whole number from 0 to 1440, not '1441'.");
  const auto enable = parse_command_line({}, {"admin", "totp", "enable", "alice"});
  REQUIRE(enable.has_value());
  CHECK(enable->operands == std::vector<std::string>{"totp", "enable", "alice"});
  CHECK(parse_command_line({}, {"admin", "totp", "disable", "alice"}).has_value());
  CHECK_FALSE(parse_command_line({}, {"admin", "totp", "alice"}).has_value());
  CHECK_FALSE(parse_command_line({}, {"admin", "totp", "reset", "alice"}).has_value());
  CHECK_FALSE(parse_command_line({}, {"admin", "add", "alice", "extra"}).has_value());
  CHECK(usage().find("admin totp enable NAME") != std::string::npos);
}
