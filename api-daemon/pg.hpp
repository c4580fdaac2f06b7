// The one wrapper around libpq: connections, parameterised statements, scripts, typed errors.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
  // The command tag, e.g. "COMMIT", "ROLLBACK", "INSERT 0 1".
  std::string_view command_tag() const;

 private:
  friend class connection;
  struct clear {
    void operator()(pg_result* r) const;
  };
  std::shared_ptr<pg_result> result_;
};

// Who a conninfo logs in as, and to which database, with libpq's defaults filled in (PGUSER,
// PGDATABASE, then the OS user) — what a client on a laptop must use too. No connection is made.
struct login {
  std::string user;
  std::string database;
};
login login_of(const std::string& conninfo);

// The password inside a conninfo (URL or key=value), empty if it names none.
std::string password_of(const std::string& conninfo);

class connection {
 public:
  // Connects with conninfo (a URL or key=value string); connect_timeout is added if absent. A
  // non-empty password is used unless the conninfo carries its own (libpq's PGPASSWORD and
  // .pgpass still apply when both are empty).
  static db_result<connection> open(const std::string& conninfo, int connect_timeout_seconds = 5,
                                    const std::string& password = {});
  // The same for a connection that mostly waits (a LISTEN): TCP keepalives are on, so a server
  // that vanished without a goodbye is noticed within about 20 s, and it names itself `application_name`.
  static db_result<connection> open_waiting(const std::string& conninfo, const std::string& password,
                                            const std::string& application_name);

  // One statement with text parameters ($1, $2, ...; nullopt is NULL). Never builds SQL from values.
  db_result<rows> exec(std::string_view sql, const std::vector<std::optional<std::string>>& params = {});

  // A script of several statements without parameters (migrations), in the current transaction.
  db_result<void> exec_script(std::string_view sql);

  bool usable() const;
  // usable(), and outside any transaction: what a pooled connection must be between calls.
  bool idle() const;
  // usable(), and the server has not gone away while it sat idle: an idle connection whose server
  // restarted still says CONNECTION_OK until used. Reads what is waiting, without blocking.
  bool alive();

  // The socket to wait on for notifications (after a LISTEN); -1 without a connection.
  int socket() const;
  // Reads what the server sent without blocking and takes the notifications that arrived (none:
  // empty), in order. A connection error when the connection broke.
  struct notification {
    std::string channel;
    std::string payload;
  };
  db_result<std::vector<notification>> take_notifications();

 private:
  static db_result<connection> open_with(const char* const* keys, const char* const* values);
  struct finish {
    void operator()(pg_conn* c) const;
  };
  std::unique_ptr<pg_conn, finish> conn_;
};

// BEGIN ... COMMIT on one connection, rolled back unless commit() succeeded. commit() checks what
// PostgreSQL did: after any failed statement a COMMIT "succeeds" with the tag ROLLBACK, having
// thrown everything away, and that is an error here, never a success.
class transaction {
 public:
  static db_result<transaction> begin(connection& c);
  transaction(transaction&& other) noexcept : c_(std::exchange(other.c_, nullptr)) {}
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  transaction& operator=(transaction&&) = delete;
  ~transaction();

  // Fails (kind other, or connection) when PostgreSQL did not commit.
  db_result<void> commit();
  // Ends it now (what the destructor would do), e.g. before a read that must not be part of it.
  void rollback();

 private:
  explicit transaction(connection& c) : c_(&c) {}
  connection* c_;  // null once committed or rolled back
};

}  // namespace smsbridge::api::pg
