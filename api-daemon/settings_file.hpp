// Reading and writing sms_settings.json: one read for every section, and writes that replace one
// section and keep every other.
#pragma once

#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "api-daemon/monitoring_settings.hpp"
#include "common/result.hpp"

namespace smsbridge::api {

// The settings file's text (at most 1 MiB); nullopt when there is no such file, which means the
// documented defaults. A file that exists but cannot be read (a directory, EACCES, EMFILE, EIO)
// fails with a sentence: silently taking the defaults would re-enable a door the operator disabled.
fallible<std::optional<std::string>> read_settings_text(const std::string& path);

// The whole file's text with settings.monitoring_ports replaced (a seed-format skeleton when the
// file is missing or empty). Fails if the existing text is not a JSON object.
fallible<std::string> with_monitoring_ports(const std::string& existing_text, const monitoring_ports& ports);

// The whole file's text with each key of `updates` replaced inside "settings" (a seed-format
// skeleton when the file is missing or empty). Fails if the existing text is not a JSON object.
fallible<std::string> with_settings(const std::string& existing_text, const boost::json::object& updates);

// Merges `updates` into "settings" and writes the file like write_settings_file.
fallible<void> update_settings_file(const std::string& path, const boost::json::object& updates);

// Writes the settings file: tmp + fsync + rename. An existing file that cannot be read is left
// alone (the write fails), so the sections this write does not touch are never lost. When rename fails with EBUSY — the file is a
// single-file bind mount, whose inode cannot be replaced — it is rewritten in place and fsync'd
// instead. Fails with a sentence naming the file.
fallible<void> write_settings_file(const std::string& path, const monitoring_ports& ports);

}  // namespace smsbridge::api
