// `sms-bridge-api admin list|add|passwd|remove|totp`: the admin commands an operator runs.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api-daemon/database.hpp"
#include "common/result.hpp"

namespace smsbridge::api {

// Gives the new password of add and passwd; `prompt` is what a terminal shows (read_new_password).
using password_reader = std::function<fallible<std::string>(std::string_view prompt)>;

// Runs one admin command (`operands` as parse_command_line leaves them: {list}, {add|passwd|remove,
// NAME} or {totp, enable|disable, NAME}), prints its outcome on stdout and logs a refusal or
// failure as one sentence. `totp_key` is SMS_BRIDGE_HMAC_SECRET, which seals TOTP secrets. Returns
// the exit code: 0 done; 1 the database failed, there is no such admin, it already exists or (totp
// disable) has no second factor; 2 a bad name or password (check_admin_password), or totp enable
// without a key, before the database is asked anything.
int run_admin_command(database& db, const std::vector<std::string>& operands, const password_reader& read_password,
                      std::string_view totp_key);

}  // namespace smsbridge::api
