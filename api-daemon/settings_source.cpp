#include "api-daemon/settings_source.hpp"

#include "api-daemon/settings_file.hpp"

namespace smsbridge::api {

namespace {
constexpr auto fresh_for = std::chrono::seconds(1);

template <class T, class Load>
fallible<T> through(std::optional<T>& value, std::chrono::steady_clock::time_point& read_at, Load load) {
  const auto now = std::chrono::steady_clock::now();
  if (value && now - read_at < fresh_for) return *value;
  auto loaded = load();
  if (!loaded) return loaded.error();
  value = *loaded;
  read_at = now;
  return loaded;
}
}  // namespace

fallible<sms_settings> settings_source::sms() {
  return through(sms_.value, sms_.read_at, [&] { return load_sms_settings(path_); });
}

fallible<monitoring_ports> settings_source::ports() {
  return through(ports_.value, ports_.read_at, [&] { return load_monitoring_ports(path_); });
}

fallible<notification_settings> settings_source::notifications() {
  return through(notifications_.value, notifications_.read_at, [&] { return load_notification_settings(path_); });
}

fallible<void> settings_source::reload() {
  sms_.value.reset();
  ports_.value.reset();
  notifications_.value.reset();
  if (auto r = sms(); !r) return r.error();
  if (auto r = ports(); !r) return r.error();
  if (auto r = notifications(); !r) return r.error();
  return {};
}

fallible<void> settings_source::write_notifications(const notification_settings& settings) {
  auto written = update_settings_file(path_, boost::json::object{{"notifications", notification_settings_file_json(settings)}});
  notifications_.value.reset();
  return written;
}

fallible<void> settings_source::write_sms(const boost::json::object& settings_section) {
  auto written = update_settings_file(path_, settings_section);
  sms_.value.reset();
  return written;
}

fallible<void> settings_source::write_ports(const monitoring_ports& ports) {
  auto written = write_settings_file(path_, ports);
  ports_.value.reset();
  return written;
}

}  // namespace smsbridge::api
