// Schema migrations: the numbered files of sql/, embedded at build time, applied in order, once.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api-daemon/pg.hpp"

namespace smsbridge::api {

struct migration {
  std::string version;  // the file name without ".sql", e.g. "001_monitoring"
  std::string_view sql;
};

// Every migration built into this binary (generated from sql/*.sql), in version order.
const std::vector<migration>& builtin_migrations();

// Applies, in one transaction under an advisory lock (so two daemons starting together do not
// race), each migration not yet recorded in schema_migrations. Returns the versions applied.
pg::db_result<std::vector<std::string>> migrate(pg::connection& db, const std::vector<migration>& migrations);

}  // namespace smsbridge::api
