// Reading a password from stdin, with termios turning echo off on a terminal.
#include "api-daemon/terminal.hpp"

#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <fmt/format.h>

namespace smsbridge::api {

namespace {
// The terminal's settings before echo was turned off, for the signal handler to put back.
struct termios saved_terminal;
volatile std::sig_atomic_t echo_is_off = 0;

constexpr int restoring_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// Ctrl-C at the prompt must not leave the operator's shell without echo: restore, then die of
// the signal as the default action would (tcsetattr and raise are async-signal-safe).
extern "C" void restore_and_reraise(int signal_number) {
  if (echo_is_off) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_terminal);
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

// Echo off for this object's lifetime, the signals above restoring it meanwhile.
class echo_off {
 public:
  echo_off() {
    if (::tcgetattr(STDIN_FILENO, &saved_terminal) != 0) return;
    struct sigaction action {};
    action.sa_handler = restore_and_reraise;
    sigemptyset(&action.sa_mask);
    for (std::size_t i = 0; i < std::size(restoring_signals); ++i) ::sigaction(restoring_signals[i], &action, &previous_[i]);
    struct termios quiet = saved_terminal;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;  // the Enter key still moves to the next line
    echo_is_off = 1;
    if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0) active_ = true;
    else echo_is_off = 0;
  }
  ~echo_off() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_terminal);
    echo_is_off = 0;
    for (std::size_t i = 0; i < std::size(restoring_signals); ++i) ::sigaction(restoring_signals[i], &previous_[i], nullptr);
  }
  echo_off(const echo_off&) = delete;
  echo_off& operator=(const echo_off&) = delete;
  // Whether echo really is off (a terminal that refuses tcsetattr is not typed into).
  bool active() const { return active_; }

 private:
  struct sigaction previous_[std::size(restoring_signals)] {};
  bool active_ = false;
};

void say(std::string_view text) {
  while (!text.empty()) {
    const auto n = ::write(STDERR_FILENO, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

// One line of stdin without its newline, read a byte at a time so nothing after it is consumed.
fallible<std::string> read_line() {
  std::string line;
  for (;;) {
    char c = 0;
    const auto n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(fmt::format("cannot read the password from stdin: {}.", std::strerror(errno)));
    if (n == 0 || c == '\n') return line;
    if (line.size() == max_password_line) return fail(fmt::format("the password line is longer than {} bytes.", max_password_line));
    line += c;
  }
}
}  // namespace

fallible<std::string> read_new_password(std::string_view prompt) {
  if (!::isatty(STDIN_FILENO)) return read_line();
  const echo_off quiet;
  if (!quiet.active()) return fail("cannot turn off echo on this terminal; pipe the password in instead.");
  say(prompt);
  auto first = read_line();
  if (!first) return first;
  say("again: ");
  auto second = read_line();
  if (!second) return second;
  if (*first != *second) return fail("the two passwords differ; nothing was changed.");
  return first;
}

}  // namespace smsbridge::api
