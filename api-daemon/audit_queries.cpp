#include "api-daemon/audit_queries.hpp"

#include <boost/json/parse.hpp>

#include "api-daemon/bounded_numbers.hpp"
#include "common/log.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;

// {key: [...]} from a JSON array the store made (an empty list when no row matched).
http_response list_answer(const http_request& request, std::string_view key, const pg::db_result<std::string>& rows) {
  if (!rows) {
    log::warning("the audit trail cannot be read ({}): {}", key, rows.error().message);
    return error_response(request, http::status::service_unavailable, "The audit trail cannot be read right now.");
  }
  boost::system::error_code ec;
  json::value entries = json::parse(*rows, ec);
  if (ec || !entries.is_array()) entries = json::array{};
  return json_response(request, http::status::ok, json::object{{key, std::move(entries)}});
}

boost::asio::awaitable<http_response> history(monitoring_context& m, const http_request& request, const request_context&,
                                              const std::string&) {
  const auto query = read_audit_query(std::string_view(request.target().data(), request.target().size()), 50);
  if (query.error) co_return error_response(request, http::status::unprocessable_entity, *query.error);
  auto draining = m.audit.drain();
  co_await std::move(draining);
  auto reading = m.trail.history_json(query.filter);
  const auto rows = co_await std::move(reading);
  co_return list_answer(request, "history", rows);
}

// ?action=opened|extended|closed|expired besides the common filters: one entry per recorded action, newest
// first, with who did it.
boost::asio::awaitable<http_response> actions(monitoring_context& m, const http_request& request, const request_context&,
                                              const std::string&) {
  const std::string_view target(request.target().data(), request.target().size());
  const auto query = read_audit_query(target, 100);
  if (query.error) co_return error_response(request, http::status::unprocessable_entity, *query.error);
  std::optional<std::string> action = query_parameter(target, "action");
  if (action && *action != "opened" && *action != "extended" && *action != "closed" && *action != "expired") {
    co_return error_response(request, http::status::unprocessable_entity, "'action' must be opened, extended, closed or expired.");
  }
  auto draining = m.audit.drain();
  co_await std::move(draining);
  auto reading = m.trail.actions_json(query.filter, action);
  const auto rows = co_await std::move(reading);
  co_return list_answer(request, "events", rows);
}
}  // namespace

audit_query read_audit_query(std::string_view target, std::int64_t default_limit) {
  audit_query q{{default_limit, query_parameter(target, "service")}, std::nullopt};
  if (auto l = query_parameter(target, "limit")) {
    auto n = whole_number(*l, 1, 1000);
    if (!n) q.error = "'limit' must be from 1 to 1000.";
    else q.filter.limit = *n;
  }
  if (q.filter.service && (q.filter.service->empty() || q.filter.service->size() > 32)) q.error = "'service' must be a service name.";
  return q;
}

void add_audit_routes(router& r, monitoring_context& m) {
  r.add(http::verb::get, "/admin/monitoring/history", monitoring_endpoint(m, history));
  r.add(http::verb::get, "/admin/monitoring/audit", monitoring_endpoint(m, actions));
}

}  // namespace smsbridge::api
