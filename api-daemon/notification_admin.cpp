#include "api-daemon/notification_admin.hpp"

#include <fmt/format.h>

#include "api-daemon/crypto.hpp"
#include "api-daemon/monitoring_context.hpp"
#include "common/log.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;

http_response unreadable(const http_request& request, const fallible<notification_settings>& s) {
  log::error("{}", s.error().message);
  return error_response(request, http::status::internal_server_error, "The settings file cannot be read.");
}

json::object answer(const notification_settings& s) {
  json::array events;
  for (auto k : selectable_notice_kinds()) events.emplace_back(json::string(name_of(k)));
  return {{"notifications", notification_settings_public_json(s)}, {"available_events", std::move(events)}};
}
}  // namespace

void add_notification_routes(router& r, admin_gate& gate, settings_source& settings, notification_store& store) {
  r.add(http::verb::get, "/admin/notifications",
        gate.require_admin([&settings](const http_request& request, const request_context&, const std::string&)
                               -> boost::asio::awaitable<http_response> {
          auto current = settings.notifications();
          if (!current) co_return unreadable(request, current);
          co_return json_response(request, http::status::ok, answer(*current));
        }));
  r.add(http::verb::post, "/admin/notifications",
        gate.require_admin([&settings](const http_request& request, const request_context&, const std::string& admin)
                               -> boost::asio::awaitable<http_response> {
          auto body = json_object_body(request);
          const auto* wanted = body ? body->if_contains("notifications") : nullptr;
          if (!wanted || !wanted->is_object()) {
            co_return error_response(request, http::status::bad_request,
                                     "Send {\"notifications\": {...}} with the notification settings to change.");
          }
          auto current = settings.notifications();
          if (!current) co_return unreadable(request, current);
          auto changed = changed_notification_settings(*current, wanted->as_object());
          if (!changed) co_return error_response(request, http::status::unprocessable_entity, changed.error().message);
          if (auto w = settings.write_notifications(*changed); !w) {
            log::error("{}", w.error().message);
            co_return error_response(request, http::status::internal_server_error, "The settings file cannot be written.");
          }
          log::notice("notification settings changed by {}", admin);
          auto out = answer(*changed);
          out["status"] = "saved";
          co_return json_response(request, http::status::ok, out);
        }));
  r.add(http::verb::post, "/admin/notifications/test",
        gate.require_admin([&settings, &store](const http_request& request, const request_context&, const std::string& admin)
                               -> boost::asio::awaitable<http_response> {
          auto current = settings.notifications();
          if (!current) co_return unreadable(request, current);
          const auto channels = current->channels();
          if (channels.empty()) {
            co_return error_response(request, http::status::conflict, "Set webhook_url or ntfy_url first: there is nowhere to send a test.");
          }
          auto queuing = queue_notification(store, settings, test_notification(admin, now_iso()), fmt::format("test:{}", to_hex(random_bytes(16))));
          if (!co_await std::move(queuing)) {
            co_return error_response(request, http::status::service_unavailable, "The test notification cannot be queued right now.");
          }
          json::array names;
          for (const auto& c : channels) names.emplace_back(json::string(c));
          co_return json_response(request, http::status::accepted, json::object{{"status", "queued"}, {"channels", std::move(names)}});
        }));
}

}  // namespace smsbridge::api
