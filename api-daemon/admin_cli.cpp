// The admin commands: validate, ask the database once, say what happened.
#include "api-daemon/admin_cli.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "api-daemon/admin_totp.hpp"
#include "api-daemon/admins.hpp"
#include "api-daemon/crypto.hpp"
#include "api-daemon/qr_terminal.hpp"
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
int enable_totp(database& db, const std::string& name, std::string_view totp_key) {
  if (totp_key.empty()) {
    log::error("TOTP secrets are sealed with a key derived from SMS_BRIDGE_HMAC_SECRET, which is not set: set it (or "
               "SMS_BRIDGE_SECRETS_FILE) as the daemon has it, then run this again.");
    return 2;
  }
  const auto enrolment = new_totp_enrolment(name, totp_key);
  auto enable = [&](pg::connection& c) { return api::enable_totp(c, name, enrolment.sealed_secret, enrolment.recovery_hashes); };
  auto enabled = db.call_now(enable);
  if (!enabled) return log::error("{}", enabled.error().message), 1;
  if (!*enabled) return log::error("there is no admin named '{}'.", name), 1;
  auto audit = [&](pg::connection& c) { return record_auth_event(c, name, "cli", "cli", "changed"); };
  (void)db.call_now(audit);
  std::string out = fmt::format(
      "second factor enabled for admin '{}' (a previous secret and its recovery codes no longer work; the admin's\n"
      "browser sessions have ended). Add it to an authenticator app: scan the QR code, or open the URI.\n\n"
      "{}\n\n",
      name, enrolment.uri);
  if (const auto modules = qr_modules(enrolment.uri)) out += render_qr(*modules, ::isatty(STDOUT_FILENO) == 1);
  out += fmt::format("\nsecret (to type it in instead): {}\n\n"
                     "recovery codes: each works once in place of a code; keep them safe, they are not shown again:\n",
                     enrolment.base32_secret);
  for (const auto& code : enrolment.recovery_codes) out += fmt::format("  {}\n", code);
  std::fputs(out.c_str(), stdout);
  return 0;
}

int disable_totp(database& db, const std::string& name) {
  auto disable = [&](pg::connection& c) { return api::disable_totp(c, name); };
  auto disabled = db.call_now(disable);
  if (!disabled) return log::error("{}", disabled.error().message), 1;
  if (!*disabled) return log::error("admin '{}' has no second factor (or does not exist).", name), 1;
  auto audit = [&](pg::connection& c) { return record_auth_event(c, name, "cli", "cli", "changed"); };
  (void)db.call_now(audit);
  std::printf("second factor of admin '%s' disabled; its recovery codes are deleted\n", name.c_str());
  return 0;
}
}  // namespace

int run_admin_command(database& db, const std::vector<std::string>& operands, const password_reader& read_password,
                      std::string_view totp_key) {
  const std::string& action = operands.at(0);
  if (action == "list") return list(db);
  const std::string& name = operands.back();
  if (!is_valid_admin_name(name)) {
    log::error("an admin name is 1 to 64 of A-Z, a-z, 0-9, '_', '.', '@' and '-'.");
    return 2;
  }
  if (action == "totp") return operands.at(1) == "enable" ? enable_totp(db, name, totp_key) : disable_totp(db, name);
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
