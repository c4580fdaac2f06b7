// Schema migrations: advisory lock, schema_migrations bookkeeping, one transaction for all.
#include "api-daemon/migrations.hpp"

#include <set>

namespace smsbridge::api {

namespace {
// An arbitrary constant that names "SMS Bridge schema migrations" among advisory locks.
constexpr const char* migration_lock_key = "727100023";
}  // namespace

pg::db_result<std::vector<std::string>> migrate(pg::connection& db, const std::vector<migration>& migrations) {
  auto tx = pg::transaction::begin(db);
  if (!tx) return tx.error();
  if (auto r = db.exec("SELECT pg_advisory_xact_lock($1::bigint)", {std::string(migration_lock_key)}); !r) return r.error();
  if (auto r = db.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                       " version TEXT PRIMARY KEY,"
                       " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
      !r) {
    return r.error();
  }
  auto done = db.exec("SELECT version FROM schema_migrations");
  if (!done) return done.error();
  std::set<std::string, std::less<>> applied;
  for (int i = 0; i < done->count(); ++i) applied.emplace(*done->get(i, 0));
  std::vector<std::string> now_applied;
  for (const auto& m : migrations) {
    if (applied.count(m.version)) continue;
    if (auto r = db.exec_script(m.sql); !r) {
      auto e = r.error();
      e.message = m.version + ": " + e.message;
      return e;
    }
    if (auto r = db.exec("INSERT INTO schema_migrations (version) VALUES ($1)", {m.version}); !r) return r.error();
    now_applied.push_back(m.version);
  }
  if (auto r = tx->commit(); !r) return r.error();
  return now_applied;
}

}  // namespace smsbridge::api
