// Writing sms_settings.json: replace settings.monitoring_ports, keep every other section.
#pragma once

#include <string>

#include <boost/json/object.hpp>

#include "api-daemon/monitoring_settings.hpp"
#include "common/result.hpp"

namespace smsbridge::api {

// The whole file's text with settings.monitoring_ports replaced (a seed-format skeleton when the
// file is missing or empty). Fails if the existing text is not a JSON object.
fallible<std::string> with_monitoring_ports(const std::string& existing_text, const monitoring_ports& ports);

// The whole file's text with each key of `updates` replaced inside "settings" (a seed-format
// skeleton when the file is missing or empty). Fails if the existing text is not a JSON object.
fallible<std::string> with_settings(const std::string& existing_text, const boost::json::object& updates);

// Merges `updates` into "settings" and writes the file like write_settings_file.
fallible<void> update_settings_file(const std::string& path, const boost::json::object& updates);

// Writes the settings file: tmp + fsync + rename. When rename fails with EBUSY — the file is a
// single-file bind mount, whose inode cannot be replaced — it is rewritten in place and fsync'd
// instead. Fails with a sentence naming the file.
fallible<void> write_settings_file(const std::string& path, const monitoring_ports& ports);

}  // namespace smsbridge::api
