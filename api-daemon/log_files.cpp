// Reading log files safely: openat() from the directory down with O_NOFOLLOW, a regular-file check, caps.
#include "api-daemon/log_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace smsbridge::api {

bool is_safe_log_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && name.front() != '.' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
         });
}

bool is_safe_log_path(std::string_view path) {
  const auto slash = path.find('/');
  if (slash == std::string_view::npos) return is_safe_log_name(path);
  return is_safe_log_name(path.substr(0, slash)) && is_safe_log_name(path.substr(slash + 1));
}

namespace {
constexpr std::size_t max_listed = 1000;

// Appends the regular files of the open directory `d` (not following links) as prefix + name.
// Returns the folders it saw, for one level of descent.
std::vector<std::string> list_into(DIR* d, const std::string& prefix, std::vector<log_file>& out) {
  std::vector<std::string> folders;
  while (const dirent* e = ::readdir(d)) {
    if (out.size() >= max_listed) break;
    const std::string_view name = e->d_name;
    if (!is_safe_log_name(name)) continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) folders.emplace_back(name);
    if (!S_ISREG(st.st_mode)) continue;
    out.push_back({prefix + std::string(name), static_cast<std::uint64_t>(st.st_size), static_cast<std::int64_t>(st.st_mtime)});
  }
  return folders;
}

// A directory under the open directory dfd, never through a link; nullptr if it is not one.
DIR* open_folder(int dfd, const std::string& name) {
  const int fd = ::openat(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return nullptr;
  DIR* d = ::fdopendir(fd);
  if (!d) ::close(fd);
  return d;
}
}  // namespace

fallible<std::vector<log_file>> list_log_files(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return fail(fmt::format("cannot read the log directory {}: {}", dir, std::strerror(errno)));
  std::vector<log_file> out;
  for (const auto& folder : list_into(d, "", out)) {
    if (DIR* sub = open_folder(::dirfd(d), folder)) {
      list_into(sub, folder + "/", out);
      ::closedir(sub);
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

std::optional<log_file> newest_service_log(const std::vector<log_file>& files, std::string_view service) {
  const auto belongs = [service](std::string_view name) {
    std::string_view folder, file = name;
    if (const auto slash = name.find('/'); slash != std::string_view::npos) {
      folder = name.substr(0, slash);
      file = name.substr(slash + 1);
    }
    if (service == "application") return folder.empty() && file == "sms-bridge-api.log";
    if (!file.ends_with(".log")) return false;
    if (service == "postgres") return (folder.empty() || folder == "postgres" || folder == "postgresql") && file.starts_with("postgresql");
    if (service == "redis") return (folder.empty() || folder == "redis") && file.starts_with("redis");
    return false;
  };
  std::optional<log_file> newest;
  for (const auto& f : files) {
    if (belongs(f.name) && (!newest || f.modified_unix > newest->modified_unix)) newest = f;
  }
  return newest;
}

std::string last_lines(std::string_view text, std::size_t n) {
  if (n == 0) return {};
  std::size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;  // a final newline does not start a line
  std::size_t pos = end;
  for (std::size_t found = 0; pos > 0; --pos) {
    if (text[pos - 1] == '\n' && ++found == n) break;
  }
  return std::string(text.substr(pos));
}

boost::system::result<std::string, log_read_error> read_log_file(const std::string& dir, std::string_view name,
                                                                 std::optional<std::size_t> tail_lines) {
  if (!is_safe_log_path(name)) return log_read_error::not_found;
  DIR* top = ::opendir(dir.c_str());
  if (!top) return log_read_error::unreadable;
  std::string folder, file(name);
  if (const auto slash = name.find('/'); slash != std::string_view::npos) {
    folder = std::string(name.substr(0, slash));
    file = std::string(name.substr(slash + 1));
  } else if (DIR* sub = open_folder(::dirfd(top), file)) {
    // A folder by itself means its newest file, as the seed served "postgres".
    std::vector<log_file> files;
    list_into(sub, "", files);
    ::closedir(sub);
    if (files.empty()) {
      ::closedir(top);
      return log_read_error::not_found;
    }
    folder = file;
    file = std::max_element(files.begin(), files.end(), [](const auto& a, const auto& b) {
             return a.modified_unix < b.modified_unix;
           })->name;
  }
  DIR* parent = folder.empty() ? nullptr : open_folder(::dirfd(top), folder);
  if (!folder.empty() && !parent) {
    ::closedir(top);
    return log_read_error::not_found;
  }
  const int fd = ::openat(::dirfd(parent ? parent : top), file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  const int open_errno = errno;
  if (parent) ::closedir(parent);
  ::closedir(top);
  if (fd < 0) return open_errno == ENOENT || open_errno == ELOOP ? log_read_error::not_found : log_read_error::unreadable;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return log_read_error::not_found;
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (!tail_lines && size > max_log_download) {
    ::close(fd);
    return log_read_error::too_large;
  }
  // For a tail, read at most the last max_log_download bytes.
  const std::size_t want = std::min(size, max_log_download);
  std::string text(want, '\0');
  std::size_t got = 0;
  while (got < want) {
    const ssize_t n = ::pread(fd, text.data() + got, want - got, static_cast<off_t>(size - want + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  if (tail_lines) return last_lines(text, *tail_lines);
  return text;
}

}  // namespace smsbridge::api
