// The admin gate against a fake admin store: HTTP Basic, browser sessions with their CSRF token,
// the JSON-only rule for Basic state changes, the login form, and the client address.
#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>

#include "api-daemon/admin_gate.hpp"
#include "api-daemon/crypto.hpp"
#include "tests/api-daemon/fakes.hpp"

using namespace smsbridge::api;
using namespace smsbridge::api::testing;

namespace {
const std::pair<std::string, std::string> alice_basic{"Authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5"};
const std::pair<std::string, std::string> json_type{"Content-Type", "application/json"};

struct gate_site {
  fake_admin_store admins;
  trusted_proxies proxies{{"10.0.0.0/8"}};
  basic_auth auth{admins, {}};
  admin_gate gate{auth, admins, proxies};
  router routes;
  std::vector<std::string> seen_admins;
  gate_site() {
    REQUIRE(init_crypto());
    admins.admins["alice"] = admin_record{*hash_password("correct horse battery"), 1};
    gate.add_routes(routes);
    const auto echo = [this](const http_request& request, const request_context&, const std::string& admin)
        -> boost::asio::awaitable<http_response> {
      seen_admins.push_back(admin);
      co_return json_response(request, http::status::ok, boost::json::object{{"admin", admin}});
    };
    routes.add(http::verb::get, "/admin/thing", gate.require_admin(echo));
    routes.add(http::verb::post, "/admin/thing", gate.require_admin(echo));
  }
};
}  // namespace

TEST_CASE("HTTP Basic: the right password passes, a wrong one is 401 with a challenge and is recorded") {
  gate_site s;
  auto ok = call(s.routes, http::verb::get, "/admin/thing", "", {alice_basic});
  CHECK(ok.result() == http::status::ok);
  CHECK(ok[http::field::x_frame_options] == "DENY");
  CHECK(s.seen_admins == std::vector<std::string>{"alice"});
  auto wrong = call(s.routes, http::verb::get, "/admin/thing", "", {{"Authorization", "Basic YWxpY2U6d3Jvbmc="}});
  CHECK(wrong.result() == http::status::unauthorized);
  CHECK(wrong[http::field::www_authenticate].starts_with("Basic"));
  // The UI's own calls get no challenge, so the browser shows no dialog of its own.
  auto from_ui = call(s.routes, http::verb::get, "/admin/thing", "", {{"X-Requested-With", "sms-bridge-admin-ui"}});
  CHECK(from_ui[http::field::www_authenticate].empty());
  CHECK(std::count(s.admins.events.begin(), s.admins.events.end(), "alice 198.51.100.7 basic failure") == 1);
}

TEST_CASE("HTTP Basic state changes must declare JSON (415 otherwise, nothing run)") {
  gate_site s;
  CHECK(call(s.routes, http::verb::post, "/admin/thing", "{}", {alice_basic}).result() == http::status::unsupported_media_type);
  CHECK(call(s.routes, http::verb::post, "/admin/thing", "{}", {alice_basic, {"Content-Type", "text/plain"}}).result() ==
        http::status::unsupported_media_type);
  CHECK(s.seen_admins.empty());
  CHECK(call(s.routes, http::verb::post, "/admin/thing", "{}", {alice_basic, {"Content-Type", "Application/JSON; charset=utf-8"}}).result() ==
        http::status::ok);
}

TEST_CASE("a browser session: login sets the cookie, reads need it, state changes need its CSRF token too") {
  gate_site s;
  auto wrong = call(s.routes, http::verb::post, "/admin/login", R"({"username": "alice", "password": "nope"})", {json_type});
  CHECK(wrong.result() == http::status::unauthorized);
  CHECK(wrong[http::field::www_authenticate].empty());
  // A plain HTML form: spaces as '+', other bytes as %XX.
  auto form = call(s.routes, http::verb::post, "/admin/login", "username=alice&password=correct+horse%20battery",
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  CHECK(form.result() == http::status::ok);
  auto login = call(s.routes, http::verb::post, "/admin/login", R"({"username": "alice", "password": "correct horse battery"})", {json_type});
  REQUIRE(login.result() == http::status::ok);
  const std::string cookie(login[http::field::set_cookie]);
  CHECK(cookie.find("HttpOnly") != std::string::npos);
  CHECK(cookie.find("Secure") == std::string::npos);  // plain HTTP, not from a trusted proxy
  const auto body = boost::json::parse(login.body()).as_object();
  const std::string csrf(body.at("csrf_token").as_string());
  const std::string session = cookie.substr(0, cookie.find(';'));
  CHECK(call(s.routes, http::verb::get, "/admin/thing", "", {{"Cookie", session}}).result() == http::status::ok);
  CHECK(call(s.routes, http::verb::post, "/admin/thing", "{}", {{"Cookie", session}}).result() == http::status::forbidden);
  CHECK(call(s.routes, http::verb::post, "/admin/thing", "{}", {{"Cookie", session}, {"X-CSRF-Token", "csrf-other"}}).result() ==
        http::status::forbidden);
  CHECK(call(s.routes, http::verb::post, "/admin/thing", "{}", {{"Cookie", session}, {"X-CSRF-Token", csrf}}).result() == http::status::ok);
  auto who = call(s.routes, http::verb::get, "/admin/session", "", {{"Cookie", session}});
  CHECK(boost::json::parse(who.body()).at("csrf_token") == csrf.c_str());
  CHECK(call(s.routes, http::verb::post, "/admin/logout", "{}", {{"Cookie", session}, {"X-CSRF-Token", csrf}}).result() == http::status::ok);
  CHECK(call(s.routes, http::verb::get, "/admin/thing", "", {{"Cookie", session}}).result() == http::status::unauthorized);
}

TEST_CASE("logins that cannot be checked are 503, not 401") {
  gate_site s;
  s.admins.down = true;
  CHECK(call(s.routes, http::verb::get, "/admin/thing", "", {alice_basic}).result() == http::status::service_unavailable);
  CHECK(call(s.routes, http::verb::get, "/admin/thing", "", {{"Cookie", "sms_bridge_session=token-1"}}).result() ==
        http::status::service_unavailable);
}

TEST_CASE("a session cookie through a trusted HTTPS proxy is Secure, and the client is the proxy's client") {
  gate_site s;
  auto login = call(s.routes, http::verb::post, "/admin/login", R"({"username": "alice", "password": "correct horse battery"})",
                    {json_type, {"X-Forwarded-Proto", "https"}, {"X-Forwarded-For", "203.0.113.9"}}, "10.1.2.3");
  REQUIRE(login.result() == http::status::ok);
  CHECK(std::string(login[http::field::set_cookie]).find("; Secure") != std::string::npos);
  CHECK(std::count(s.admins.events.begin(), s.admins.events.end(), "alice 203.0.113.9 session success") == 1);
}

TEST_CASE("trusted_proxies: X-Forwarded-For is believed only from our proxies, up to the first untrusted hop") {
  const trusted_proxies p({"10.0.0.0/8", "fd00::/8"});
  http_request r{http::verb::get, "/", 11};
  r.set("X-Forwarded-For", "198.51.100.1, 203.0.113.5, 10.0.0.9");
  CHECK(p.client_address(r, {"10.0.0.1"}) == "203.0.113.5");
  CHECK(p.client_address(r, {"192.0.2.1"}) == "192.0.2.1");
  r.set("X-Forwarded-For", "garbage, 10.0.0.9");
  CHECK(p.client_address(r, {"10.0.0.1"}) == "10.0.0.1");
  CHECK(p.trusts("fd00::1"));
  CHECK(!p.trusts("not an address"));
}

TEST_CASE("basic_auth caches a verified password, and a new password version drops the cache at once") {
  gate_site s;
  const auto successes = [&] { return std::count(s.admins.events.begin(), s.admins.events.end(), "alice 198.51.100.7 basic success"); };
  for (int i = 0; i < 3; ++i) REQUIRE(call(s.routes, http::verb::get, "/admin/thing", "", {alice_basic}).result() == http::status::ok);
  CHECK(successes() == 1);  // argon2id ran once; the next two were the cache
  // `admin passwd` bumps the version: the cached verification no longer counts.
  s.admins.admins["alice"] = admin_record{*hash_password("a new long password"), 2};
  CHECK(call(s.routes, http::verb::get, "/admin/thing", "", {alice_basic}).result() == http::status::unauthorized);
  // While the database is down, a verification cached before still stands (admins can close doors).
  s.admins.admins["alice"] = admin_record{*hash_password("correct horse battery"), 3};
  REQUIRE(call(s.routes, http::verb::get, "/admin/thing", "", {alice_basic}).result() == http::status::ok);
  s.admins.down = true;
  CHECK(call(s.routes, http::verb::get, "/admin/thing", "", {alice_basic}).result() == http::status::ok);
}

TEST_CASE("login_throttle: repeated failures from one source are refused with Retry-After, and recorded as throttled") {
  gate_site s;
  http_response last{http::status::ok, 11};
  for (int i = 0; i < 30 && last.result() != http::status::too_many_requests; ++i) {
    last = call(s.routes, http::verb::get, "/admin/thing", "", {{"Authorization", "Basic YWxpY2U6d3Jvbmc="}});
  }
  REQUIRE(last.result() == http::status::too_many_requests);
  CHECK(!last[http::field::retry_after].empty());
  CHECK(std::count(s.admins.events.begin(), s.admins.events.end(), "alice 198.51.100.7 basic throttled") >= 1);
}

TEST_CASE("login_throttle across servers: each failure is announced, and another server's failures count here") {
  gate_site s;
  const std::pair<std::string, std::string> wrong{"Authorization", "Basic YWxpY2U6d3Jvbmc="};
  CHECK(call(s.routes, http::verb::get, "/admin/thing", "", {wrong}).result() == http::status::unauthorized);
  REQUIRE(s.admins.announced.size() == 1);
  const auto mine = parse_shared_login(s.admins.announced.back(), "another server");
  REQUIRE(mine);
  CHECK(mine->failed);
  CHECK(mine->user == "alice");
  CHECK(mine->source == "198.51.100.7");
  CHECK(mine->user_exists);
  // Its own announcement, coming back from PostgreSQL, is not counted twice: with four replays of
  // it, the pair (limit 5) has still had only its own failures, so four more are answered 401.
  for (int i = 0; i < 4; ++i) s.auth.take_shared(s.admins.announced.back());
  for (int i = 0; i < 4; ++i) CHECK(call(s.routes, http::verb::get, "/admin/thing", "", {wrong}).result() == http::status::unauthorized);
  CHECK(call(s.routes, http::verb::get, "/admin/thing", "", {wrong}).result() == http::status::too_many_requests);
}

TEST_CASE("login_throttle across servers: five failures of a pair on another server refuse the right password here") {
  gate_site s;
  for (int i = 0; i < 5; ++i) s.auth.take_shared(encode_shared_login("another server", {true, "198.51.100.7", "alice", true}));
  CHECK(call(s.routes, http::verb::get, "/admin/thing", "", {alice_basic}).result() == http::status::too_many_requests);
  // A success there clears the pair here, as one here would.
  s.auth.take_shared(encode_shared_login("another server", {false, "198.51.100.7", "alice", true}));
  const auto ok = call(s.routes, http::verb::get, "/admin/thing", "", {alice_basic});
  CHECK(ok.result() == http::status::ok);
  CHECK(s.admins.announced.back() == encode_shared_login(s.auth.origin(), {false, "198.51.100.7", "alice", true}));
}

TEST_CASE("form_decode: '+' is a space, %XX a byte, a broken escape is refused") {
  CHECK(form_decode("a+b%20c%2B%25") == std::optional<std::string>("a b c+%"));
  CHECK(form_decode("") == std::optional<std::string>(""));
  CHECK(!form_decode("%"));
  CHECK(!form_decode("%2"));
  CHECK(!form_decode("%zz"));
}
