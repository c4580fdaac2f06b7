// The one wrapper around libpq: connections, parameterised statements, scripts, typed errors.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

struct pg_conn;
struct pg_result;

namespace smsbridge::api::pg {

enum class error_kind {
  connection,              // cannot connect, or the connection broke
  unique_violation,        // SQLSTATE 23505
  insufficient_privilege,  // 42501 (also what the audit table's append-only trigger raises)
  other,
};

// A failed database call. `message` is for logs only, never for an HTTP body.
struct db_error {
  error_kind kind = error_kind::other;
  std::string sqlstate;
  std::string message;
};

template <class T>
using db_result = boost::system::result<T, db_error>;

// The rows of a successful statement, as text.
class rows {
 public:
  int count() const;
  int columns() const;
  // nullopt for SQL NULL.
  std::optional<std::string_view> get(int row, int column) const;

 private:
  friend class connection;
  struct clear {
    void operator()(pg_result* r) const;
  };
  std::shared_ptr<pg_result> result_;
};

class connection {
 public:
  // Connects with conninfo (a URL or key=value string); connect_timeout is added if absent.
  static db_result<connection> open(const std::string& conninfo, int connect_timeout_seconds = 5);

  // One statement with text parameters ($1, $2, ...; nullopt is NULL). Never builds SQL from values.
  db_result<rows> exec(std::string_view sql, const std::vector<std::optional<std::string>>& params = {});

  // A script of several statements without parameters (migrations), in the current transaction.
  db_result<void> exec_script(std::string_view sql);

  bool usable() const;
  // usable(), and the server has not gone away while it sat idle: an idle connection whose server
  // restarted still says CONNECTION_OK until used. Reads what is waiting, without blocking.
  bool alive();

 private:
  struct finish {
    void operator()(pg_conn* c) const;
  };
  std::unique_ptr<pg_conn, finish> conn_;
};

}  // namespace smsbridge::api::pg
