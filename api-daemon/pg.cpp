// The one wrapper around libpq. Statements always go through PQexecParams with text parameters;
// SQLSTATEs map to a small closed set of error kinds.
#include "api-daemon/pg.hpp"

#include <libpq-fe.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

namespace smsbridge::api::pg {

namespace {
db_error error_from(PGconn* conn, PGresult* result) {
  db_error e;
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  e.sqlstate = state ? state : "";
  e.message = result ? PQresultErrorMessage(result) : PQerrorMessage(conn);
  while (!e.message.empty() && (e.message.back() == '\n' || e.message.back() == ' ')) e.message.pop_back();
  if (PQstatus(conn) != CONNECTION_OK || e.sqlstate.rfind("08", 0) == 0) e.kind = error_kind::connection;
  else if (e.sqlstate == "23505") e.kind = error_kind::unique_violation;
  else if (e.sqlstate == "42501") e.kind = error_kind::insufficient_privilege;
  return e;
}
}  // namespace

void rows::clear::operator()(pg_result* r) const { PQclear(r); }
void connection::finish::operator()(pg_conn* c) const { PQfinish(c); }

int rows::count() const { return PQntuples(result_.get()); }
int rows::columns() const { return PQnfields(result_.get()); }

std::optional<std::string_view> rows::get(int row, int column) const {
  if (row < 0 || row >= count() || column < 0 || column >= columns()) return std::nullopt;
  if (PQgetisnull(result_.get(), row, column)) return std::nullopt;
  return std::string_view(PQgetvalue(result_.get(), row, column),
                          static_cast<std::size_t>(PQgetlength(result_.get(), row, column)));
}

namespace {
// The value of one conninfo keyword as written (no defaults), empty if absent or unparsable.
std::string conninfo_field(const std::string& conninfo, std::string_view keyword) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error) PQfreemem(error);
  std::string out;
  for (PQconninfoOption* o = options; o && o->keyword; ++o) {
    if (keyword == o->keyword && o->val) out = o->val;
  }
  if (options) PQconninfoFree(options);
  return out;
}
}  // namespace

login login_of(const std::string& conninfo) {
  login l{conninfo_field(conninfo, "user"), conninfo_field(conninfo, "dbname")};
  if (l.user.empty()) {
    const char* env = std::getenv("PGUSER");
    if (env && *env) l.user = env;
    else if (const passwd* pw = ::getpwuid(::geteuid())) l.user = pw->pw_name;
  }
  if (l.database.empty()) {
    const char* env = std::getenv("PGDATABASE");
    l.database = env && *env ? env : l.user;
  }
  return l;
}

std::string password_of(const std::string& conninfo) { return conninfo_field(conninfo, "password"); }

db_result<connection> connection::open(const std::string& conninfo, int connect_timeout_seconds, const std::string& password) {
  // With expand_dbname the URL (or key=value string) is expanded in dbname's place; being last,
  // its own settings win over our default timeout, application name and password.
  const std::string timeout = std::to_string(connect_timeout_seconds);
  const char* keys[] = {"connect_timeout", "application_name", "password", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "sms-bridge-api", password.empty() ? nullptr : password.c_str(),
                          conninfo.c_str(), nullptr};
  return open_with(keys, values);
}

db_result<connection> connection::open_waiting(const std::string& conninfo, const std::string& password,
                                               const std::string& application_name) {
  // Idle 10 s, then a probe every 3 s, and 3 unanswered probes end it; tcp_user_timeout bounds
  // data left unacknowledged. Ignored on a Unix socket, where a vanished server closes it anyway.
  const char* keys[] = {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                        "tcp_user_timeout", "application_name", "password", "dbname", nullptr};
  const char* values[] = {"5", "1", "10", "3", "3", "20000", application_name.c_str(),
                          password.empty() ? nullptr : password.c_str(), conninfo.c_str(), nullptr};
  return open_with(keys, values);
}

db_result<connection> connection::open_with(const char* const* keys, const char* const* values) {
  connection c;
  c.conn_.reset(PQconnectdbParams(keys, values, 1));
  if (!c.conn_) return db_error{error_kind::connection, "", "libpq could not allocate a connection"};
  if (PQstatus(c.conn_.get()) != CONNECTION_OK) {
    return db_error{error_kind::connection, "", error_from(c.conn_.get(), nullptr).message};
  }
  return c;
}

int connection::socket() const { return conn_ ? PQsocket(conn_.get()) : -1; }

db_result<std::vector<connection::notification>> connection::take_notifications() {
  if (!usable() || PQconsumeInput(conn_.get()) == 0) return db_error{error_kind::connection, "", error_from(conn_.get(), nullptr).message};
  std::vector<notification> taken;
  while (PGnotify* n = PQnotifies(conn_.get())) {
    taken.push_back({n->relname ? n->relname : "", n->extra ? n->extra : ""});
    PQfreemem(n);
  }
  if (PQstatus(conn_.get()) != CONNECTION_OK) return db_error{error_kind::connection, "", error_from(conn_.get(), nullptr).message};
  return taken;
}

db_result<rows> connection::exec(std::string_view sql, const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  const std::string text(sql);
  PGresult* r = PQexecParams(conn_.get(), text.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                             nullptr, 0);
  rows out;
  out.result_.reset(r, rows::clear{});
  const auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return error_from(conn_.get(), r);
  return out;
}

bool connection::alive() {
  if (!usable()) return false;
  // libpq's socket is non-blocking: these reads take the server's goodbye (a FATAL message, then
  // EOF) if it is waiting, and the status turns bad; on a healthy idle connection they find nothing.
  for (int i = 0; i < 2; ++i) {
    if (PQconsumeInput(conn_.get()) == 0) return false;
    (void)PQisBusy(conn_.get());  // parses what was read
  }
  return PQstatus(conn_.get()) == CONNECTION_OK;
}

db_result<void> connection::exec_script(std::string_view sql) {
  const std::string text(sql);
  std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(conn_.get(), text.c_str()), &PQclear);
  const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return error_from(conn_.get(), r.get());
  return {};
}

std::string_view rows::command_tag() const {
  const char* tag = result_ ? PQcmdStatus(result_.get()) : nullptr;
  return tag ? std::string_view(tag) : std::string_view{};
}

db_result<transaction> transaction::begin(connection& c) {
  if (auto r = c.exec("BEGIN"); !r) return r.error();
  return transaction(c);
}

transaction::~transaction() { rollback(); }

void transaction::rollback() {
  if (connection* c = std::exchange(c_, nullptr)) (void)c->exec("ROLLBACK");
}

db_result<void> transaction::commit() {
  connection* c = std::exchange(c_, nullptr);
  auto r = c->exec("COMMIT");
  if (!r) return r.error();
  if (r->command_tag() != "COMMIT") {
    return db_error{error_kind::other, "", fmt::format("the transaction was rolled back (COMMIT answered {})", r->command_tag())};
  }
  return {};
}

bool connection::usable() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }

bool connection::idle() const { return usable() && PQtransactionStatus(conn_.get()) == PQTRANS_IDLE; }

}  // namespace smsbridge::api::pg
