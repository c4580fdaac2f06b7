#include "api-daemon/sms_admin.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "api-daemon/crypto.hpp"
#include "common/log.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;

json::object settings_json(const sms_settings& s) {
  json::array countries;
  for (const auto& c : s.allowed_countries) countries.push_back(json::string(c));
  const auto check = [](bool on) { return json::object{{"enabled", on}}; };
  return {{"sms_receiver_number", s.sms_receiver_number},
          {"allowed_prefix", s.allowed_prefix},
          {"hash_length", s.hash_length},
          {"ttl_hash_seconds", s.ttl_hash_seconds},
          {"allowed_countries", std::move(countries)},
          {"count_threshold", s.count_threshold},
          {"count_window_seconds", s.count_window_seconds},
          {"validation_checks", json::object{{"header_hash_check", check(s.header_hash_check)},
                                             {"foreign_number_check", check(s.foreign_number_check)},
                                             {"count_check", check(s.count_check)},
                                             {"blacklist_check", check(s.blacklist_check)}}},
          {"sync_url", s.sync_url},
          {"recovery_url", s.recovery_url}};
}

http_response settings_unreadable(const http_request& request) {
  return error_response(request, http::status::internal_server_error, "The settings file cannot be read.");
}

// The number in /admin/blacklist/{number}, with its '+' written as %2B.
std::string number_of_path(const http_request& request) {
  const std::string_view path = target_path(std::string_view(request.target().data(), request.target().size()));
  std::string mobile(path.substr(path.rfind('/') + 1));
  if (mobile.starts_with("%2B") || mobile.starts_with("%2b")) mobile.replace(0, 3, "+");  // not "+" + substr: a false -Wrestrict at -O3 (g++ 12)
  return mobile;
}
}  // namespace

void add_sms_admin_routes(router& r, admin_gate& gate, sms_api_context& c, backend& backend) {
  // The SMS settings, changed by admins without a restart.
  r.add(http::verb::get, "/admin/sms/settings",
        gate.require_admin([&c](const http_request& request, const request_context&, const std::string&)
                               -> boost::asio::awaitable<http_response> {
          auto settings = c.settings.sms();
          if (!settings) {
            log::error("{}", settings.error().message);
            co_return settings_unreadable(request);
          }
          co_return json_response(request, http::status::ok, json::object{{"settings", settings_json(*settings)}});
        }));
  r.add(http::verb::post, "/admin/sms/settings",
        gate.require_admin([&c](const http_request& request, const request_context&, const std::string& admin)
                               -> boost::asio::awaitable<http_response> {
          auto body = json_object_body(request);
          const auto* wanted = body ? body->if_contains("settings") : nullptr;
          if (!wanted || !wanted->is_object()) {
            co_return error_response(request, http::status::bad_request, "Send {\"settings\": {...}} with the SMS settings to change.");
          }
          auto current = c.settings.sms();
          if (!current) {
            log::error("{}", current.error().message);
            co_return settings_unreadable(request);
          }
          json::object merged = settings_json(*current);
          for (const auto& [key, value] : wanted->as_object()) {
            if (!merged.contains(key)) {
              co_return error_response(request, http::status::unprocessable_entity, fmt::format("'{}' is not an SMS setting.", std::string(key)));
            }
            merged[key] = value;
          }
          auto checked = parse_sms_settings(json::serialize(json::object{{"settings", merged}}));
          if (!checked) co_return error_response(request, http::status::unprocessable_entity, checked.error().message);
          if (auto w = c.settings.write_sms(settings_json(*checked)); !w) {
            log::error("{}", w.error().message);
            co_return error_response(request, http::status::internal_server_error, "The settings file cannot be written.");
          }
          log::notice("SMS settings changed by {}", admin);
          co_return json_response(request, http::status::ok, json::object{{"status", "saved"}, {"settings", settings_json(*checked)}});
        }));

  r.add(http::verb::get, "/admin/blacklist",
        gate.require_admin([&c](const http_request& request, const request_context&, const std::string&)
                               -> boost::asio::awaitable<http_response> {
          auto step = c.store.blacklist_json();
          const auto listed = co_await std::move(step);
          if (!listed) co_return error_response(request, http::status::service_unavailable, "The blacklist cannot be read right now.");
          boost::system::error_code ec;
          json::value numbers = json::parse(*listed, ec);
          co_return json_response(request, http::status::ok, json::object{{"numbers", ec ? json::array{} : numbers}});
        }));
  r.add(http::verb::post, "/admin/blacklist",
        gate.require_admin([&c](const http_request& request, const request_context&, const std::string& admin)
                               -> boost::asio::awaitable<http_response> {
          auto body = json_object_body(request);
          const auto* m = body ? body->if_contains("mobile_number") : nullptr;
          if (!m || !m->is_string() || !is_e164(m->as_string())) {
            co_return error_response(request, http::status::bad_request, "mobile_number must be E.164.");
          }
          const std::string mobile(m->as_string());
          std::string reason;
          if (const auto* why = body->if_contains("reason"); why && why->is_string() && why->as_string().size() <= 500) {
            reason = std::string(why->as_string());
          }
          auto step = c.store.blacklist(mobile, fmt::format("{} (by {})", reason, admin));
          if (!co_await std::move(step)) co_return error_response(request, http::status::service_unavailable, "The blacklist cannot be changed right now.");
          co_return json_response(request, http::status::ok, json::object{{"status", "blacklisted"}, {"mobile_number", mobile}});
        }));
  r.add(http::verb::delete_, "/admin/blacklist/*",
        gate.require_admin([&c](const http_request& request, const request_context&, const std::string&)
                               -> boost::asio::awaitable<http_response> {
          const std::string mobile = number_of_path(request);
          if (!is_e164(mobile)) co_return error_response(request, http::status::bad_request, "Give an E.164 number (+ written as %2B).");
          auto step = c.store.unblacklist(mobile);
          const auto removed = co_await std::move(step);
          if (!removed) co_return error_response(request, http::status::service_unavailable, "The blacklist cannot be changed right now.");
          if (!*removed) co_return error_response(request, http::status::not_found, "That number is not blacklisted.");
          co_return json_response(request, http::status::ok, json::object{{"status", "removed"}, {"mobile_number", mobile}});
        }));

  // Puts failed outbox items back in line and tells the backend (recovery_url), signed.
  r.add(http::verb::post, "/admin/trigger-recovery",
        gate.require_admin([&c, &backend](const http_request& request, const request_context&, const std::string& admin)
                               -> boost::asio::awaitable<http_response> {
          auto requeue = c.store.requeue_failed();
          const auto requeued = co_await std::move(requeue);
          if (!requeued) co_return error_response(request, http::status::service_unavailable, "The outbox cannot be changed right now.");
          json::object out{{"status", "ok"}, {"requeued", *requeued}};
          auto settings = c.settings.sms();
          if (settings && !settings->recovery_url.empty()) {
            const std::string body = json::serialize(json::object{{"requeued", *requeued}, {"requested_by", admin}});
            // At most 4 s, so that the admin's request is answered within 5 s even when the
            // backend stalls; the requeue itself is already committed.
            auto calling = backend.post(settings->recovery_url, body, to_hex(random_bytes(16)), std::chrono::seconds(4));
            const auto called = co_await std::move(calling);
            out["recovery_url_status"] = called ? static_cast<std::int64_t>(called->status) : 0;
            if (!called) log::warning("recovery_url: {}", called.error().message);
          }
          co_return json_response(request, http::status::ok, out);
        }));
}

}  // namespace smsbridge::api
