// The levelled log: the process-wide sink and the default stderr/journal sink.
#include "common/log.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace smsbridge::log {

namespace {
std::mutex& sink_mutex() {
  static std::mutex m;
  return m;
}
sink& current_sink() {
  static sink s = stderr_sink("sms-bridge");
  return s;
}
level& current_threshold() {
  static level t = level::info;
  return t;
}

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere left to report that logging failed
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}
}  // namespace

std::string_view name(level l) {
  switch (l) {
    case level::error: return "error";
    case level::warning: return "warning";
    case level::notice: return "notice";
    case level::info: return "info";
    case level::debug: return "debug";
  }
  return "unknown";
}

std::string format_line(level l, std::string_view sentence, std::string_view program, bool journal) {
  std::string line;
  line.reserve(sentence.size() + program.size() + 16);
  if (journal) {
    line.append(fmt::format("<{}>", static_cast<int>(l)));
  } else {
    line.append(program);
    line.append(": ");
  }
  line.append(name(l));
  line.append(": ");
  for (char c : sentence) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
  line.push_back('\n');
  return line;
}

bool stderr_is_journal() {
  // systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connected; a child whose stderr
  // was redirected elsewhere inherits the variable, so the descriptor must match it too.
  const char* env = std::getenv("JOURNAL_STREAM");
  if (!env) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  return dev == static_cast<unsigned long long>(st.st_dev) && ino == static_cast<unsigned long long>(st.st_ino);
}

sink stderr_sink(std::string program) {
  const bool journal = stderr_is_journal();
  return [program = std::move(program), journal](level l, std::string_view sentence) {
    write_all(STDERR_FILENO, format_line(l, sentence, program, journal));
  };
}

sink set_sink(sink s) {
  std::lock_guard lock(sink_mutex());
  return std::exchange(current_sink(), std::move(s));
}

void set_threshold(level threshold) {
  std::lock_guard lock(sink_mutex());
  current_threshold() = threshold;
}

std::string journal_entry(level l, std::string_view message_id, const std::vector<field>& fields, std::string_view sentence,
                          std::string_view identifier) {
  std::string out;
  const auto add = [&out](std::string_view name, std::string_view value) {
    out.append(name);
    if (value.find('\n') == std::string_view::npos) {
      out.push_back('=');
      out.append(value);
    } else {
      // NAME, newline, the length as 64-bit little endian, the bytes, newline.
      out.push_back('\n');
      std::uint64_t n = value.size();
      for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
      out.append(value);
    }
    out.push_back('\n');
  };
  add("MESSAGE", sentence);
  add("PRIORITY", std::to_string(static_cast<int>(l)));
  add("SYSLOG_IDENTIFIER", identifier);
  add("MESSAGE_ID", message_id);
  for (const auto& f : fields) add(f.name, f.value);
  return out;
}

namespace {
struct journal_target {
  int fd = -1;
  sockaddr_un address{};
  std::string identifier;
};
journal_target& journal() {
  static journal_target j;
  return j;
}
}  // namespace

void send_events_to_journal(std::string identifier, std::string socket_path) {
  if (!stderr_is_journal() || socket_path.size() >= sizeof(sockaddr_un::sun_path)) return;
  std::lock_guard lock(sink_mutex());
  journal_target& j = journal();
  if (j.fd >= 0) return;
  j.fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  j.address.sun_family = AF_UNIX;
  std::memcpy(j.address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  j.identifier = std::move(identifier);
}

void event(level l, std::string_view message_id, const std::vector<field>& fields, std::string_view sentence) {
  {
    std::lock_guard lock(sink_mutex());
    if (static_cast<int>(l) > static_cast<int>(current_threshold())) return;
    const journal_target& j = journal();
    if (j.fd >= 0) {
      const std::string entry = journal_entry(l, message_id, fields, sentence, j.identifier);
      // One datagram, or the plain line below (an entry too large for a datagram, journald gone).
      if (::sendto(j.fd, entry.data(), entry.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&j.address),
                   sizeof j.address) == static_cast<ssize_t>(entry.size())) {
        return;
      }
    }
  }
  write(l, sentence);
}

void write(level l, std::string_view sentence) {
  std::lock_guard lock(sink_mutex());
  if (static_cast<int>(l) > static_cast<int>(current_threshold()) || !current_sink()) return;
  try {
    current_sink()(l, sentence);
  } catch (...) {
    // A sink that throws loses its line, never the caller's work.
  }
}

}  // namespace smsbridge::log
