// The admin commands: validate, ask the database once, say what happened.
#include "api-daemon/admin_cli.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "api-daemon/admins.hpp"
#include "api-daemon/crypto.hpp"
#include "common/log.hpp"

namespace smsbridge::api {

namespace {
namespace log = smsbridge::log;  // not at file scope, where <cmath>'s ::log lives

// `admin list` shows at most this many (an admin table is a handful of people).
constexpr std::size_t max_listed_admins = 1000;

int list(database& db) {
  auto query = [](pg::connection& c) { return list_admins(c, max_listed_admins + 1); };
  auto admins = db.call_now(query);
  if (!admins) return log::error("cannot list the admins: {}", admins.error().message), 1;
  const bool more = admins->size() > max_listed_admins;
  if (more) admins->resize(max_listed_admins);
  std::fputs(render_admin_list(*admins, more).c_str(), stdout);
  return 0;
}
}  // namespace

int run_admin_command(database& db, const std::vector<std::string>& operands, const password_reader& read_password) {
  const std::string& action = operands.at(0);
  if (action == "list") return list(db);
  const std::string& name = operands.at(1);
  if (!is_valid_admin_name(name)) {
    log::error("an admin name is 1 to 64 of A-Z, a-z, 0-9, '_', '.', '@' and '-'.");
    return 2;
  }
  if (action == "remove") {
    auto remove = [&](pg::connection& c) { return remove_admin(c, name); };
    auto removed = db.call_now(remove);
    if (!removed) return log::error("{}", removed.error().message), 1;
    if (!*removed) return log::error("there is no admin named '{}'.", name), 1;
    std::printf("admin '%s' removed\n", name.c_str());
    return 0;
  }
  auto password = read_password(action == "add" ? fmt::format("password for the new admin '{}': ", name)
                                                 : fmt::format("new password for admin '{}': ", name));
  if (!password) return log::error("{}", password.error().message), 2;
  if (auto ok = check_admin_password(*password); !ok) return log::error("{}", ok.error().message), 2;
  auto hash = hash_password(*password);
  if (!hash) return log::error("{}", hash.error().message), 1;
  if (action == "add") {
    auto add = [&](pg::connection& c) { return add_admin(c, name, *hash); };
    auto added = db.call_now(add);
    if (!added && added.error().kind == pg::error_kind::unique_violation) {
      return log::error("an admin named '{}' already exists; use admin passwd.", name), 1;
    }
    if (!added) return log::error("{}", added.error().message), 1;
    std::printf("admin '%s' added\n", name.c_str());
    return 0;
  }
  auto change = [&](pg::connection& c) { return set_admin_password(c, name, *hash); };
  auto changed = db.call_now(change);
  if (!changed) return log::error("{}", changed.error().message), 1;
  if (!*changed) return log::error("there is no admin named '{}'.", name), 1;
  auto audit = [&](pg::connection& c) { return record_auth_event(c, name, "cli", "cli", "changed"); };
  (void)db.call_now(audit);
  std::printf("password of admin '%s' changed\n", name.c_str());
  return 0;
}

}  // namespace smsbridge::api
