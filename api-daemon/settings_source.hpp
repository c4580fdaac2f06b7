// SETTINGS_FILE, read one way for everyone: the SMS settings, the doors and the notifications, parsed at most once a
// second however many requests ask, so a change by hand takes effect within a second without a
// restart. Every reader runs on the one I/O thread, so the cache needs no lock.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "api-daemon/monitoring_settings.hpp"
#include "api-daemon/notifications.hpp"
#include "api-daemon/sms_rules.hpp"
#include "common/result.hpp"

namespace smsbridge::api {

class settings_source {
 public:
  explicit settings_source(std::string path) : path_(std::move(path)) {}

  // An unreadable or invalid file fails with the parser's sentence (for the log).
  fallible<sms_settings> sms();
  fallible<monitoring_ports> ports();
  fallible<notification_settings> notifications();

  // Writes, and the next read sees the change at once.
  fallible<void> write_sms(const boost::json::object& settings_section);
  fallible<void> write_ports(const monitoring_ports& ports);
  fallible<void> write_notifications(const notification_settings& settings);

  // SIGHUP: forgets what it has cached and reads the file now, so a broken hand edit is reported
  // at once instead of by the next request that needs it. Fails with the parser's sentence.
  fallible<void> reload();

  const std::string& path() const { return path_; }

 private:
  template <class T>
  struct cached {
    std::optional<T> value;
    std::chrono::steady_clock::time_point read_at;
  };
  std::string path_;
  cached<sms_settings> sms_;
  cached<monitoring_ports> ports_;
  cached<notification_settings> notifications_;
};

}  // namespace smsbridge::api
