#include "api-daemon/log_endpoints.hpp"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>
#include <google/protobuf/util/time_util.h>

#include "api-daemon/bounded_numbers.hpp"
#include "api-daemon/log_files.hpp"
#include "common/log.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;
using google::protobuf::util::TimeUtil;

boost::asio::awaitable<http_response> list_logs(monitoring_context& m, const http_request& request, const request_context&,
                                                const std::string&) {
  auto files = list_log_files(m.config.log_dir);
  if (!files) {
    log::error("{}", files.error().message);
    co_return error_response(request, http::status::service_unavailable, "The log directory cannot be read.");
  }
  const auto modified = [](const log_file& f) {
    google::protobuf::Timestamp t;
    t.set_seconds(f.modified_unix);
    return iso(t);
  };
  // The original's {service: {path, size, modified}} for the services that have a log; every
  // file, by the name logs/download takes, under "files".
  json::object services;
  for (const auto service : log_services) {
    if (auto f = newest_service_log(*files, service)) {
      services[service] = json::object{{"path", fmt::format("{}/{}", m.config.log_dir, f->name)}, {"size", f->bytes},
                                       {"modified", modified(*f)}, {"name", f->name}};
    }
  }
  json::array out;
  for (const auto& f : *files) out.push_back(json::object{{"name", f.name}, {"bytes", f.bytes}, {"modified_at", modified(f)}});
  co_return json_response(request, http::status::ok,
                          json::object{{"logs", std::move(services)}, {"timestamp", now_iso()}, {"files", std::move(out)}});
}

boost::asio::awaitable<http_response> download_log(monitoring_context& m, const http_request& request, const request_context&,
                                                   const std::string&) {
  const std::string_view target(request.target().data(), request.target().size());
  const std::string_view path = target_path(target);
  constexpr std::string_view prefix = "/admin/monitoring/logs/download/";
  const std::string_view name = path.starts_with(prefix) ? path.substr(prefix.size()) : std::string_view{};
  std::optional<std::size_t> tail;
  if (auto t = query_parameter(target, "tail")) {
    auto n = whole_number(*t, 1, static_cast<std::int64_t>(max_tail_lines));
    if (!n) {
      co_return error_response(request, http::status::unprocessable_entity, fmt::format("'tail' must be from 1 to {}.", max_tail_lines));
    }
    tail = static_cast<std::size_t>(*n);
  }
  // application, postgres and redis (the original's services) mean that service's newest file,
  // downloaded as SERVICE-YYYYMMDD.log; any other name is a file (or folder) of the log directory.
  std::string file(name), filename(name);
  std::replace(filename.begin(), filename.end(), '/', '-');
  if (std::find(std::begin(log_services), std::end(log_services), name) != std::end(log_services)) {
    auto files = list_log_files(m.config.log_dir);
    if (!files) {
      log::error("{}", files.error().message);
      co_return error_response(request, http::status::service_unavailable, "The log directory cannot be read.");
    }
    auto newest = newest_service_log(*files, name);
    if (!newest) co_return error_response(request, http::status::not_found, fmt::format("There is no {} log yet.", name));
    file = newest->name;
    google::protobuf::Timestamp t;
    t.set_seconds(newest->modified_unix);
    std::string day = TimeUtil::ToString(t).substr(0, 10);  // the file's last write, YYYY-MM-DD
    day.erase(std::remove(day.begin(), day.end(), '-'), day.end());
    filename = fmt::format("{}-{}.log", name, day);
  }
  auto text = read_log_file(m.config.log_dir, file, tail);
  if (!text) {
    switch (text.error()) {
      case log_read_error::not_found:
        co_return error_response(request, http::status::not_found, "There is no such log file.");
      case log_read_error::too_large:
        co_return error_response(request, http::status::payload_too_large,
                                 fmt::format("The log file is larger than {} MiB; ask for its end with ?tail=N.", max_log_download >> 20));
      case log_read_error::unreadable:
        co_return error_response(request, http::status::service_unavailable, "The log file cannot be read.");
    }
  }
  http_response r{http::status::ok, request.version()};
  r.set(http::field::content_type, "text/plain; charset=utf-8");
  r.set(http::field::content_disposition, fmt::format("attachment; filename=\"{}\"", filename));
  r.keep_alive(request.keep_alive());
  r.body() = std::move(*text);
  r.prepare_payload();
  co_return r;
}

}  // namespace

void add_log_routes(router& r, monitoring_context& m) {
  r.add(http::verb::get, "/admin/monitoring/logs/list", monitoring_endpoint(m, list_logs));
  r.add(http::verb::get, "/admin/monitoring/logs/download/*", monitoring_endpoint(m, download_log));
}

}  // namespace smsbridge::api
