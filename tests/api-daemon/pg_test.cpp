// The libpq wrapper's pure parts: who a conninfo logs in as, and the password it carries.
#include <catch2/catch.hpp>

#include "api-daemon/pg.hpp"

using namespace smsbridge::api;

TEST_CASE("a conninfo's login is its user and database, as a laptop's client must give them") {
  auto url = pg::login_of("postgresql://sms_bridge@172.30.57.20:5432/smsdb");
  CHECK(url.user == "sms_bridge");
  CHECK(url.database == "smsdb");
  auto keywords = pg::login_of("host=/tmp user=ops dbname=audit");
  CHECK(keywords.user == "ops");
  CHECK(keywords.database == "audit");
  auto query = pg::login_of("postgresql:///bridge?user=reader");
  CHECK(query.user == "reader");
  CHECK(query.database == "bridge");
}

TEST_CASE("a conninfo without a database logs in to the user's own, as libpq does") {
  auto l = pg::login_of("postgresql://someone@db");
  CHECK(l.user == "someone");
  CHECK(l.database == "someone");
}

TEST_CASE("the password inside a conninfo is found, and none is none") {
  CHECK(pg::password_of("postgresql://u:s3cret-pass@db/x") == "s3cret-pass");
  CHECK(pg::password_of("host=db password=kw-pass") == "kw-pass");
  CHECK(pg::password_of("postgresql://u@db/x").empty());
  CHECK(pg::password_of("this is not a conninfo").empty());
}
