// Writing sms_settings.json atomically, with the bind-mount fallback.
#include "api-daemon/settings_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

#include "common/fd_io.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;

// Indented JSON, so the file stays pleasant to edit by hand.
void pretty(std::string& out, const json::value& v, int depth) {
  const std::string pad(static_cast<std::size_t>(depth) * 2, ' ');
  if (v.is_object()) {
    if (v.as_object().empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    bool first = true;
    for (const auto& [k, child] : v.as_object()) {
      if (!first) out += ",\n";
      first = false;
      out += pad + "  " + json::serialize(json::value(k)) + ": ";
      pretty(out, child, depth + 1);
    }
    out += "\n" + pad + "}";
  } else {
    out += json::serialize(v);
  }
}
}  // namespace

fallible<std::string> with_settings(const std::string& existing_text, const json::object& updates) {
  json::value root = json::object{{"version", "2.3.0"}, {"settings", json::object{}}};
  if (existing_text.find_first_not_of(" \t\r\n") != std::string::npos) {
    boost::system::error_code ec;
    root = json::parse(existing_text, ec);
    if (ec || !root.is_object()) return fail("the settings file is not a JSON object; fix it by hand first.");
  }
  auto& settings = root.as_object()["settings"];
  if (!settings.is_object()) settings = json::object{};
  for (const auto& [key, value] : updates) settings.as_object()[key] = value;
  std::string out;
  pretty(out, root, 0);
  return out + "\n";
}

fallible<std::string> with_monitoring_ports(const std::string& existing_text, const monitoring_ports& ports) {
  json::object section;
  for (const auto& [name, door] : ports) {
    section[name] = json::object{{"port", door.port}, {"enabled", door.enabled}, {"description", door.description}};
  }
  return with_settings(existing_text, json::object{{"monitoring_ports", std::move(section)}});
}

fallible<std::optional<std::string>> read_settings_text(const std::string& path) {
  constexpr std::size_t limit = 1 << 20;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return fail(fmt::format("cannot read settings file {}: {}", path, std::strerror(errno)));
  }
  std::string text;
  char chunk[16384];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return fail(fmt::format("cannot read settings file {}: {}", path, std::strerror(err)));
    }
    if (n == 0) break;
    text.append(chunk, static_cast<std::size_t>(n));
    if (text.size() > limit) {
      ::close(fd);
      return fail(fmt::format("settings file {} is larger than 1 MiB.", path));
    }
  }
  ::close(fd);
  return std::optional<std::string>(std::move(text));
}

namespace {
fallible<void> write_text(const std::string& path, const std::string& text);

// Reads what is there, merges, writes; refuses when what is there cannot be read.
template <class Merge>
fallible<void> rewrite(const std::string& path, Merge merge) {
  auto existing = read_settings_text(path);
  if (!existing) return fail(fmt::format("{}; nothing was changed.", existing.error().message));
  auto text = merge(existing->value_or(std::string{}));
  if (!text) return fail(fmt::format("settings file {}: {}", path, text.error().message));
  return write_text(path, *text);
}
}  // namespace

fallible<void> write_settings_file(const std::string& path, const monitoring_ports& ports) {
  return rewrite(path, [&](const std::string& existing) { return with_monitoring_ports(existing, ports); });
}

fallible<void> update_settings_file(const std::string& path, const json::object& updates) {
  return rewrite(path, [&](const std::string& existing) { return with_settings(existing, updates); });
}

namespace {
fallible<void> write_text(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd >= 0) {
    const bool ok = write_all(fd, text) && ::fsync(fd) == 0;
    ::close(fd);
    if (ok && ::rename(tmp.c_str(), path.c_str()) == 0) return {};
    const int err = errno;
    ::unlink(tmp.c_str());
    if (!ok || (err != EBUSY && err != EXDEV)) {
      return fail(fmt::format("cannot write settings file {}: {}", path, std::strerror(err)));
    }
  }
  // A single-file bind mount (or an unwritable directory): rewrite the file itself.
  fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return fail(fmt::format("cannot write settings file {}: {}", path, std::strerror(errno)));
  const bool ok = write_all(fd, text) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) return fail(fmt::format("cannot write settings file {}: {}", path, std::strerror(err)));
  return {};
}
}  // namespace

}  // namespace smsbridge::api
