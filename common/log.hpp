// The levelled log of both binaries: one sentence per event, written once where it is decided.
//
// Interface (for the helper now, sms-bridge-api next):
//   - Five levels, the syslog ones a service needs: error (something failed and a person should act:
//     a kernel operation, a state write), warning (something is wrong but handled: drift, a degraded
//     feature), notice (a normal but significant event: a door opened or closed, a request
//     refused), info (routine: started, stopped), debug (for a developer; off unless asked for).
//   - Call log::error(...), log::warning(...), ... with a fmt format string, or log::write(level,
//     sentence). A sentence is one line: embedded newlines are replaced by spaces, so one event is
//     one line in the journal.
//   - Every line goes to one process-wide sink: a function taking (level, sentence). The default
//     sink writes "PROGRAM: LEVEL: sentence\n" to stderr in one write(2); when stderr is the
//     journal (systemd sets JOURNAL_STREAM to stderr's device:inode) it writes "<N>LEVEL: sentence\n" instead, N being the
//     syslog priority (err 3, warning 4, notice 5, info 6, debug 7), so `journalctl -p warning`
//     selects by level and the journal, which names the unit itself, gets no program prefix.
//   - Tests install a recording sink with log::scoped_sink and read back what was logged.
//   - Thread-safe: write() may be called from any thread; calls to the sink are serialised, so a
//     sink needs no lock of its own but must not itself call log:: (that would deadlock).
//   - Library code that can fail returns the failure instead of logging it (STYLE.md); the caller
//     that decides what the failure means logs it, once.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace smsbridge::log {

// The value of each level is its syslog priority.
enum class level { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

// "error", "warning", "notice", "info" or "debug".
std::string_view name(level l);

// Receives each sentence (already one line, no trailing newline) with its level.
using sink = std::function<void(level, std::string_view)>;

// The line the default sink writes for one event, newline included: "<N>LEVEL: sentence\n" when
// `journal`, else "PROGRAM: LEVEL: sentence\n". Pure; newlines in the sentence become spaces.
std::string format_line(level l, std::string_view sentence, std::string_view program, bool journal);

// Whether stderr is the journal: JOURNAL_STREAM is set and names stderr's device and inode.
bool stderr_is_journal();

// A sink that writes format_line(...) to stderr in one write(2). Decides once, when made, whether
// stderr is the journal.
sink stderr_sink(std::string program);

// Makes `s` the process-wide sink and returns the previous one. Messages below `threshold`
// (less severe) are dropped before they reach any sink. Until it is first called, the sink is
// stderr_sink("sms-bridge") with threshold info.
sink set_sink(sink s);
void set_threshold(level threshold);

// Sends one event to the sink. Never throws (a throwing sink is ignored).
void write(level l, std::string_view sentence);

template <class... A>
void error(fmt::format_string<A...> f, A&&... a) { write(level::error, fmt::format(f, std::forward<A>(a)...)); }
template <class... A>
void warning(fmt::format_string<A...> f, A&&... a) { write(level::warning, fmt::format(f, std::forward<A>(a)...)); }
template <class... A>
void notice(fmt::format_string<A...> f, A&&... a) { write(level::notice, fmt::format(f, std::forward<A>(a)...)); }
template <class... A>
void info(fmt::format_string<A...> f, A&&... a) { write(level::info, fmt::format(f, std::forward<A>(a)...)); }
template <class... A>
void debug(fmt::format_string<A...> f, A&&... a) { write(level::debug, fmt::format(f, std::forward<A>(a)...)); }

// Structured events: the few lines operators search for (a door opened, closed, expired...).
// A field name is what journald accepts: [A-Z0-9_], not starting with '_'.
struct field {
  std::string_view name;
  std::string value;
};

// The native journal protocol's datagram for one entry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER,
// MESSAGE_ID and the fields, each "NAME=value\n", or in the length-prefixed form when the value
// holds a newline. Pure.
std::string journal_entry(level l, std::string_view message_id, const std::vector<field>& fields, std::string_view sentence,
                          std::string_view identifier);

// Sends events natively to journald (the socket below) from now on, when stderr is the journal;
// otherwise events stay plain lines. Called once by a daemon's main; tests never call it.
void send_events_to_journal(std::string identifier, std::string socket_path = "/run/systemd/journal/socket");

// Logs an event: as a datagram to journald (so `journalctl MESSAGE_ID=ID` and
// `journalctl SMS_BRIDGE_SERVICE=metrics` find it) when send_events_to_journal() is on and the
// send works, else as the usual line through the sink. The threshold applies either way.
void event(level l, std::string_view message_id, const std::vector<field>& fields, std::string_view sentence);

// Installs a sink for the lifetime of this object and restores the previous one after (tests).
class scoped_sink {
 public:
  explicit scoped_sink(sink s) : previous_(set_sink(std::move(s))) {}
  ~scoped_sink() { set_sink(std::move(previous_)); }
  scoped_sink(const scoped_sink&) = delete;
  scoped_sink& operator=(const scoped_sink&) = delete;

 private:
  sink previous_;
};

}  // namespace smsbridge::log
