// Asks a real PostgreSQL what the database pool and the transaction guard promise (run by
// api_pg_test.py --scenario pool): a connection left inside a transaction is never handed to the
// next call; a COMMIT after a failed statement is a failure, and nothing was kept; a guard that
// goes out of scope rolls back. Prints one line per promise; exits 1 at the first broken one.
#include <cstdio>
#include <string>

#include "api-daemon/database.hpp"

using namespace smsbridge::api;

namespace {
int broken(const std::string& what) {
  std::fprintf(stderr, "pg_pool_probe: %s\n", what.c_str());
  return 1;
}

pg::db_result<std::string> backend_pid(pg::connection& c) {
  auto r = c.exec("SELECT pg_backend_pid()");
  if (!r) return r.error();
  return std::string(*r->get(0, 0));
}

pg::db_result<long> rows_in_probe_table(pg::connection& c) {
  auto r = c.exec("SELECT count(*) FROM pool_probe");
  if (!r) return r.error();
  return std::stol(std::string(*r->get(0, 0)));
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return broken("usage: pg_pool_probe DATABASE_URL");
  database db(argv[1], 1);

  auto leave_open = [](pg::connection& c) -> pg::db_result<std::string> {
    if (auto r = c.exec("BEGIN"); !r) return r.error();
    return backend_pid(c);
  };
  auto first = db.call_now(leave_open);
  if (!first) return broken("cannot connect: " + first.error().message);
  auto ask = [](pg::connection& c) -> pg::db_result<std::string> {
    if (!c.idle()) return std::string("not idle");
    return backend_pid(c);
  };
  auto second = db.call_now(ask);
  if (!second) return broken("the next call failed: " + second.error().message);
  if (*second == "not idle") return broken("the pool handed out a connection still inside a transaction");
  if (*second == *first) return broken("the pool kept the connection that was left inside a transaction");
  std::puts("a connection left inside a transaction is dropped, not reused");

  auto setup = [](pg::connection& c) -> pg::db_result<void> {
    auto r = c.exec("CREATE TABLE IF NOT EXISTS pool_probe (x int)");
    if (!r) return r.error();
    return {};
  };
  if (auto r = db.call_now(setup); !r) return broken("cannot create the probe table: " + r.error().message);
  auto failed_statement = [](pg::connection& c) -> pg::db_result<bool> {
    auto tx = pg::transaction::begin(c);
    if (!tx) return tx.error();
    if (auto r = c.exec("INSERT INTO pool_probe VALUES (1)"); !r) return r.error();
    (void)c.exec("SELECT 1 / 0");  // fails: PostgreSQL aborts the transaction
    return tx->commit().has_value();
  };
  auto committed = db.call_now(failed_statement);
  if (!committed) return broken("the transaction could not start: " + committed.error().message);
  if (*committed) return broken("commit() reported success after a failed statement");
  auto counted = db.call_now(rows_in_probe_table);
  if (!counted || *counted != 0) return broken("rows of a failed transaction were kept");
  std::puts("a COMMIT after a failed statement fails, and nothing is kept");

  auto abandoned = [](pg::connection& c) -> pg::db_result<void> {
    auto tx = pg::transaction::begin(c);
    if (!tx) return tx.error();
    if (auto r = c.exec("INSERT INTO pool_probe VALUES (2)"); !r) return r.error();
    return {};  // the guard goes out of scope without commit()
  };
  if (auto r = db.call_now(abandoned); !r) return broken("the abandoned transaction failed: " + r.error().message);
  counted = db.call_now(rows_in_probe_table);
  if (!counted || *counted != 0) return broken("a transaction whose guard was dropped was kept");
  std::puts("a transaction whose guard goes out of scope is rolled back");
  return 0;
}
