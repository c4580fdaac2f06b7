// Reading a password from stdin: without echo when stdin is a terminal (the one termios wrapper).
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace smsbridge::api {

// The longest line read as a password; longer input fails rather than being cut.
inline constexpr std::size_t max_password_line = 4096;

// A new password for `admin add` or `admin passwd`. When stdin is a terminal: asks on stderr
// (`prompt`, then "again: "), with echo off while the two lines are typed, restoring the terminal
// afterwards, also when a signal ends the process; the two must match. Otherwise: the first line
// of stdin, as a script pipes it. The newline is not part of the password. Fails with a sentence:
// the two differ, the line is longer than max_password_line, stdin cannot be read.
fallible<std::string> read_new_password(std::string_view prompt);

}  // namespace smsbridge::api
