// The SMS API on the public listener: register a number, receive its SMS, set its PIN. Every
// state change is one PostgreSQL transaction, so a replayed SMS or a repeated PIN cannot act twice.
#include <algorithm>
#include <chrono>
#include <optional>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

#include "api-daemon/app.hpp"
#include "api-daemon/backend_client.hpp"
#include "api-daemon/crypto.hpp"
#include "api-daemon/settings_file.hpp"
#include "api-daemon/sms_rules.hpp"

namespace smsbridge::api {

namespace {
namespace json = boost::json;

std::optional<std::string> string_field(const json::object& o, const char* key, std::size_t max) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string() || v->as_string().size() > max) return std::nullopt;
  return std::string(v->as_string());
}

// The key of per-number counts: an HMAC of the number, so the logs never hold the number itself.
std::string number_key(std::string_view secret, std::string_view mobile) { return to_hex(hmac_sha256(secret, mobile)); }

// Appends to sms_bridge_logs (number masked). Outside a transaction a failure to log a refusal is
// not worth failing the answer for; inside one it aborts the transaction, so the caller checks it
// (and the guard's commit would refuse anyway).
pg::db_result<pg::rows> log_sms(pg::connection& c, std::string_view secret, std::string_view event, std::string_view status,
                                std::string_view mobile, std::string_view message_id, std::string_view detail) {
  return c.exec("INSERT INTO sms_bridge_logs (event, status, mobile_masked, mobile_hash, message_id, detail) "
               "VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6)",
               {std::string(event), std::string(status), mask_number(mobile), number_key(secret, mobile), std::string(message_id),
                std::string(detail)});
}

struct verdict {
  http::status status = http::status::ok;
  json::object body;
};

http_response answer(const http_request& request, const verdict& v) { return json_response(request, v.status, v.body); }

// ---- POST /onboarding/register ----------------------------------------------------------

verdict do_register(pg::connection& c, const sms_settings& s, const std::string& secret, const std::string& mobile,
                    const std::optional<std::string>& email, const std::optional<std::string>& device_id) {
  if (s.foreign_number_check && !number_in_countries(mobile, s.allowed_countries)) {
    (void)log_sms(c, secret, "register", "rejected", mobile, "", "country not allowed");
    return {http::status::forbidden, {{"detail", "Numbers from this country cannot register."}}};
  }
  if (s.blacklist_check) {
    auto listed = c.exec("SELECT 1 FROM sms_blacklist WHERE mobile_number = $1", {mobile});
    if (!listed) return {http::status::service_unavailable, {{"detail", "Registration is not available right now."}}};
    if (listed->count() > 0) {
      (void)log_sms(c, secret, "register", "rejected", mobile, "", "blacklisted");
      return {http::status::forbidden, {{"detail", "This number cannot register."}}};
    }
  }
  auto recent = c.exec("SELECT count(*) FROM onboarding_codes WHERE mobile_number = $1 AND generated_at > now() - make_interval(secs => $2::int)",
                       {mobile, std::to_string(s.count_window_seconds)});
  if (!recent) return {http::status::service_unavailable, {{"detail", "Registration is not available right now."}}};
  if (std::stoll(std::string(*recent->get(0, 0))) >= s.count_threshold) {
    (void)log_sms(c, secret, "register", "rate_limited", mobile, "", "too many registrations");
    return {http::status::too_many_requests, {{"detail", "Too many registrations for this number; try again later."}}};
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string code = onboarding_code(secret, mobile, now, s.hash_length);
  auto stored = c.exec("INSERT INTO onboarding_codes (mobile_number, hash, email, device_id, generated_at, expires_at) "
                       "VALUES ($1, $2, $3, $4, to_timestamp($5::bigint), to_timestamp($5::bigint) + make_interval(secs => $6::int)) "
                       "RETURNING to_char(generated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                       "to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                       {mobile, code, email, device_id, std::to_string(now), std::to_string(s.ttl_hash_seconds)});
  if (!stored) {
    // The same number registering twice within one second yields the same code: ask again.
    if (stored.error().kind == pg::error_kind::unique_violation) {
      return {http::status::too_many_requests, {{"detail", "A code was just issued for this number; try again in a second."}}};
    }
    return {http::status::service_unavailable, {{"detail", "Registration is not available right now."}}};
  }
  (void)log_sms(c, secret, "register", "success", mobile, "", "");
  return {http::status::ok,
          {{"status", "success"},
           {"sms_receiving_number", s.sms_receiver_number},
           {"hash", code},
           {"generated_at", std::string(*stored->get(0, 0))},
           {"user_deadline", std::string(*stored->get(0, 1))},
           {"user_timelimit_seconds", s.ttl_hash_seconds}}};
}

// ---- POST /sms/receive --------------------------------------------------------------------

verdict do_receive(pg::connection& c, const sms_settings& s, const std::string& secret, const std::string& mobile,
                   const std::string& message) {
  const std::string message_id = to_hex(random_bytes(12));
  const auto failed = [&](std::string_view check, std::string_view why) -> verdict {
    (void)log_sms(c, secret, "receive", "failed", mobile, message_id, fmt::format("{}: {}", check, why));
    return {http::status::ok, {{"status", "failed"}, {"message_id", message_id}, {"check", check}, {"reason", why}}};
  };
  std::optional<std::string> code;
  const auto text = read_sms_text(message, s.allowed_prefix, s.hash_length);
  if (s.header_hash_check && !text.code) return failed("header_hash_check", text.problem);
  code = text.code;
  if (s.foreign_number_check && !number_in_countries(mobile, s.allowed_countries)) return failed("foreign_number_check", "country not allowed");
  // A check that cannot ask the database fails closed: the SMS is not let through unchecked.
  const verdict unavailable{http::status::service_unavailable, {{"detail", "SMS cannot be processed right now."}}};
  if (s.count_check) {
    auto n = c.exec("SELECT count(*) FROM sms_bridge_logs WHERE event = 'receive' AND mobile_hash = $1 "
                    "AND at > now() - make_interval(secs => $2::int)",
                    {number_key(secret, mobile), std::to_string(s.count_window_seconds)});
    if (!n) return unavailable;
    if (std::stoll(std::string(*n->get(0, 0))) >= s.count_threshold) return failed("count_check", "too many messages");
  }
  if (s.blacklist_check) {
    auto listed = c.exec("SELECT 1 FROM sms_blacklist WHERE mobile_number = $1", {mobile});
    if (!listed) return unavailable;
    if (listed->count() > 0) return failed("blacklist_check", "blacklisted");
  }
  if (!code) return failed("header_hash_check", text.problem);
  // One transaction: the code is consumed by exactly one SMS, from the number that registered it.
  auto tx = pg::transaction::begin(c);
  if (!tx) return unavailable;
  auto used = c.exec("UPDATE onboarding_codes SET consumed_at = now() "
                     "WHERE hash = $1 AND mobile_number = $2 AND consumed_at IS NULL AND expires_at > now() "
                     "RETURNING email, device_id",
                     {*code, mobile});
  if (!used || used->count() == 0) {
    tx->rollback();  // the read below is outside the transaction
    if (!used) return unavailable;
    auto why = c.exec("SELECT CASE WHEN mobile_number <> $2 THEN 'sent from another number' WHEN consumed_at IS NOT NULL THEN "
                      "'code already used' ELSE 'code expired' END FROM onboarding_codes WHERE hash = $1",
                      {*code, mobile});
    const std::string reason = why && why->count() > 0 ? std::string(*why->get(0, 0)) : "unknown code";
    return failed("code", reason);
  }
  auto verified = c.exec("INSERT INTO verified_numbers (mobile_number, hash, email, device_id) VALUES ($1, $2, $3, $4) "
                         "ON CONFLICT (mobile_number) DO UPDATE SET hash = EXCLUDED.hash, email = EXCLUDED.email, "
                         "device_id = EXCLUDED.device_id, verified_at = now(), pin_consumed_at = NULL",
                         {mobile, *code, used->get(0, 0) ? std::optional<std::string>(std::string(*used->get(0, 0))) : std::nullopt,
                          used->get(0, 1) ? std::optional<std::string>(std::string(*used->get(0, 1))) : std::nullopt});
  // The log row joins the transaction: one commit (one fsync) per SMS. "received" only once
  // PostgreSQL really committed all three.
  if (!verified || !log_sms(c, secret, "receive", "received", mobile, message_id, "verified") || !tx->commit()) return unavailable;
  return {http::status::ok, {{"status", "received"}, {"message_id", message_id}}};
}

// ---- POST /pin-setup ------------------------------------------------------------------------

verdict do_pin_setup(pg::connection& c, const std::string& secret, const std::string& mobile, const std::string& pin,
                     const std::string& code) {
  const verdict unavailable{http::status::service_unavailable, {{"detail", "PIN setup is not available right now."}}};
  auto tx = pg::transaction::begin(c);
  if (!tx) return unavailable;
  // Consumed in the same transaction that queues the account: one PIN per verification.
  auto consumed = c.exec("UPDATE verified_numbers SET pin_consumed_at = now() "
                         "WHERE mobile_number = $1 AND hash = $2 AND pin_consumed_at IS NULL RETURNING email, device_id, "
                         "to_char(verified_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                         {mobile, code});
  if (!consumed || consumed->count() == 0) {
    tx->rollback();  // the refusal is logged outside it
    if (!consumed) return unavailable;
    (void)log_sms(c, secret, "pin_setup", "rejected", mobile, "", "not verified or already used");
    return {http::status::conflict, {{"detail", "This number is not verified with this hash, or its PIN was already set."}}};
  }
  json::object payload{{"mobile_number", mobile}, {"verified_at", std::string(*consumed->get(0, 2))}};
  if (auto e = consumed->get(0, 0)) payload["email"] = std::string(*e);
  if (auto d = consumed->get(0, 1)) payload["device_id"] = std::string(*d);
  auto queued = c.exec("INSERT INTO sync_outbox (mobile_number, payload, pin) VALUES ($1, $2::jsonb, $3) RETURNING idempotency_key",
                       {mobile, json::serialize(payload), pin});
  if (!queued || !log_sms(c, secret, "pin_setup", "success", mobile, "", "queued for delivery") || !tx->commit()) return unavailable;
  return {http::status::ok, {{"status", "success"}, {"message", "The account is queued for delivery to the backend."}}};
}

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

// The SMS settings, read from the file at most once a second (every handler runs on the one I/O
// thread, so this cache needs no lock): a change takes effect within a second, without a restart.
std::optional<sms_settings> cached;
std::chrono::steady_clock::time_point read_at;

fallible<sms_settings> settings_of(const app& a) {
  const auto now = std::chrono::steady_clock::now();
  if (cached && now - read_at < std::chrono::seconds(1)) return *cached;
  auto s = load_sms_settings(a.config.settings_file);
  if (!s) {
    a.report(s.error().message);
    return s;
  }
  cached = *s;
  read_at = now;
  return s;
}
}  // namespace

void add_sms_routes(router& r, app& a) {
  // The SMS settings and the blacklist, changed by admins without a restart.
  r.add(http::verb::get, "/admin/sms/settings",
        require_admin(a, [&a](const http_request& request, const request_context&, const std::string&)
                             -> boost::asio::awaitable<http_response> {
          auto settings = settings_of(a);
          if (!settings) co_return error_response(request, http::status::internal_server_error, "The settings file cannot be read.");
          co_return json_response(request, http::status::ok, json::object{{"settings", settings_json(*settings)}});
        }));
  r.add(http::verb::post, "/admin/sms/settings",
        require_admin(a, [&a](const http_request& request, const request_context&, const std::string& admin)
                             -> boost::asio::awaitable<http_response> {
          auto body = json_object_body(request);
          const auto* wanted = body ? body->if_contains("settings") : nullptr;
          if (!wanted || !wanted->is_object()) {
            co_return error_response(request, http::status::bad_request, "Send {\"settings\": {...}} with the SMS settings to change.");
          }
          auto current = settings_of(a);
          if (!current) co_return error_response(request, http::status::internal_server_error, "The settings file cannot be read.");
          json::object merged = settings_json(*current);
          for (const auto& [key, value] : wanted->as_object()) {
            if (!merged.contains(key)) {
              co_return error_response(request, http::status::unprocessable_entity, fmt::format("'{}' is not an SMS setting.", std::string(key)));
            }
            merged[key] = value;
          }
          auto checked = parse_sms_settings(json::serialize(json::object{{"settings", merged}}));
          if (!checked) co_return error_response(request, http::status::unprocessable_entity, checked.error().message);
          if (auto w = update_settings_file(a.config.settings_file, settings_json(*checked)); !w) {
            a.report(w.error().message);
            co_return error_response(request, http::status::internal_server_error, "The settings file cannot be written.");
          }
          a.report(fmt::format("SMS settings changed by {}", admin));
          cached = *checked;  // in effect from the next request, not a second later
          read_at = std::chrono::steady_clock::now();
          co_return json_response(request, http::status::ok, json::object{{"status", "saved"}, {"settings", settings_json(*checked)}});
        }));
  r.add(http::verb::get, "/admin/blacklist",
        require_admin(a, [&a](const http_request& request, const request_context&, const std::string&)
                             -> boost::asio::awaitable<http_response> {
          auto list = [](pg::connection& c) {
            return c.exec("SELECT COALESCE(json_agg(b ORDER BY b.added_at DESC), '[]') FROM (SELECT mobile_number, reason, added_at "
                          "FROM sms_blacklist ORDER BY added_at DESC LIMIT 10000) b");
          };
          auto step = a.db.call(std::move(list));
          const auto rows = co_await std::move(step);
          if (!rows) co_return error_response(request, http::status::service_unavailable, "The blacklist cannot be read right now.");
          boost::system::error_code ec;
          json::value numbers = json::parse(rows->get(0, 0).value_or("[]"), ec);
          co_return json_response(request, http::status::ok, json::object{{"numbers", ec ? json::array{} : numbers}});
        }));
  r.add(http::verb::post, "/admin/blacklist",
        require_admin(a, [&a](const http_request& request, const request_context&, const std::string& admin)
                             -> boost::asio::awaitable<http_response> {
          auto body = json_object_body(request);
          auto mobile = body ? string_field(*body, "mobile_number", 16) : std::nullopt;
          if (!mobile || !is_e164(*mobile)) co_return error_response(request, http::status::bad_request, "mobile_number must be E.164.");
          std::string reason = body->contains("reason") ? string_field(*body, "reason", 500).value_or("") : "";
          auto add = [m = *mobile, reason = fmt::format("{} (by {})", reason, admin)](pg::connection& c) {
            return c.exec("INSERT INTO sms_blacklist (mobile_number, reason) VALUES ($1, $2) ON CONFLICT (mobile_number) DO UPDATE "
                          "SET reason = EXCLUDED.reason",
                          {m, reason});
          };
          auto step = a.db.call(std::move(add));
          if (!co_await std::move(step)) co_return error_response(request, http::status::service_unavailable, "The blacklist cannot be changed right now.");
          co_return json_response(request, http::status::ok, json::object{{"status", "blacklisted"}, {"mobile_number", *mobile}});
        }));
  r.add(http::verb::delete_, "/admin/blacklist/*",
        require_admin(a, [&a](const http_request& request, const request_context&, const std::string&)
                             -> boost::asio::awaitable<http_response> {
          const std::string_view path = target_path(std::string_view(request.target().data(), request.target().size()));
          std::string mobile(path.substr(path.rfind('/') + 1));
          if (mobile.starts_with("%2B") || mobile.starts_with("%2b")) mobile.replace(0, 3, "+");  // not "+" + substr: a false -Wrestrict at -O3 (g++ 12)
          if (!is_e164(mobile)) co_return error_response(request, http::status::bad_request, "Give an E.164 number (+ written as %2B).");
          auto remove = [mobile](pg::connection& c) { return c.exec("DELETE FROM sms_blacklist WHERE mobile_number = $1 RETURNING 1", {mobile}); };
          auto step = a.db.call(std::move(remove));
          const auto removed = co_await std::move(step);
          if (!removed) co_return error_response(request, http::status::service_unavailable, "The blacklist cannot be changed right now.");
          if (removed->count() == 0) co_return error_response(request, http::status::not_found, "That number is not blacklisted.");
          co_return json_response(request, http::status::ok, json::object{{"status", "removed"}, {"mobile_number", mobile}});
        }));

  // Puts failed outbox items back in line and tells the backend (recovery_url), signed.
  r.add(http::verb::post, "/admin/trigger-recovery",
        require_admin(a, [&a](const http_request& request, const request_context&, const std::string& admin)
                             -> boost::asio::awaitable<http_response> {
          auto requeue = [](pg::connection& c) -> pg::db_result<std::int64_t> {
            auto moved = c.exec("WITH moved AS (UPDATE sync_outbox SET status = 'pending', next_attempt_at = now(), attempts = 0 "
                                "WHERE status = 'failed' RETURNING 1) SELECT count(*) FROM moved");
            if (!moved) return moved.error();
            return std::stoll(std::string(*moved->get(0, 0)));
          };
          auto requeue_step = a.db.call(std::move(requeue));
          const auto requeued = co_await std::move(requeue_step);
          if (!requeued) co_return error_response(request, http::status::service_unavailable, "The outbox cannot be changed right now.");
          json::object out{{"status", "ok"}, {"requeued", *requeued}};
          auto settings = settings_of(a);
          if (settings && !settings->recovery_url.empty()) {
            const std::string body = json::serialize(json::object{{"requeued", *requeued}, {"requested_by", admin}});
            // At most 4 s, so that the admin's request is answered within 5 s even when the
            // backend stalls; the requeue itself is already committed.
            auto calling = post_signed(settings->recovery_url, body, a.config.hmac_secret, to_hex(random_bytes(16)),
                                       a.config.backend_ca_file, std::chrono::seconds(4));
            const auto called = co_await std::move(calling);
            out["recovery_url_status"] = called ? static_cast<std::int64_t>(called->status) : 0;
            if (!called) a.report(fmt::format("recovery_url: {}", called.error().message));
          }
          co_return json_response(request, http::status::ok, out);
        }));

  r.add(http::verb::post, "/onboarding/register", [&a](const http_request& request, const request_context&) -> boost::asio::awaitable<http_response> {
    auto body = json_object_body(request);
    if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
    auto mobile = string_field(*body, "mobile_number", 16);
    if (!mobile || !is_e164(*mobile)) {
      co_return error_response(request, http::status::bad_request, "mobile_number must be an E.164 number such as +919876543210.");
    }
    auto email = string_field(*body, "email", 254);
    auto device_id = string_field(*body, "device_id", 128);
    if ((body->contains("email") && !email) || (body->contains("device_id") && !device_id)) {
      co_return error_response(request, http::status::bad_request, "email and device_id must be strings (at most 254 and 128 characters).");
    }
    auto settings = settings_of(a);
    if (!settings) co_return error_response(request, http::status::internal_server_error, "The settings file cannot be read.");
    auto work = [s = *settings, secret = a.config.hmac_secret, m = *mobile, email, device_id](pg::connection& c) -> pg::db_result<verdict> {
      return do_register(c, s, secret, m, email, device_id);
    };
    auto step = a.db.call(std::move(work));
    auto v = co_await std::move(step);
    if (!v) co_return error_response(request, http::status::service_unavailable, "Registration is not available right now.");
    a.stats.onboarding(v->status == http::status::ok ? "success" : v->status == http::status::too_many_requests ? "rate_limited" : "rejected");
    if (v->status == http::status::too_many_requests) a.stats.rate_limited();
    co_return answer(request, *v);
  });

  r.add(http::verb::post, "/sms/receive", [&a](const http_request& request, const request_context&) -> boost::asio::awaitable<http_response> {
    // The gateway's key: X-API-Key, or ?apiKey= for gateways that can only do that. Never logged.
    auto header = request["X-API-Key"];
    std::string key(header.data(), header.size());
    const std::string_view target(request.target().data(), request.target().size());
    if (key.empty()) key = query_parameter(target, "apiKey").value_or("");
    if (key.empty() || !constant_time_equal(key, a.config.sms_api_key)) {
      co_return error_response(request, http::status::unauthorized, "A valid API key is required.");
    }
    auto body = json_object_body(request);
    if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
    auto mobile = string_field(*body, "mobile_number", 16);
    auto message = string_field(*body, "message", 1600);
    if (!mobile || !is_e164(*mobile) || !message) {
      co_return error_response(request, http::status::bad_request, "Send mobile_number (E.164), message and received_at.");
    }
    auto settings = settings_of(a);
    if (!settings) co_return error_response(request, http::status::internal_server_error, "The settings file cannot be read.");
    auto work = [s = *settings, secret = a.config.hmac_secret, m = *mobile, text = *message](pg::connection& c) -> pg::db_result<verdict> {
      return do_receive(c, s, secret, m, text);
    };
    auto step = a.db.call(std::move(work));
    auto v = co_await std::move(step);
    if (!v) co_return error_response(request, http::status::service_unavailable, "SMS cannot be processed right now.");
    if (const auto* status = v->body.if_contains("status"); status && status->is_string()) {
      a.stats.sms_received(std::string(status->as_string()));
      if (const auto* check = v->body.if_contains("check"); check && check->is_string()) {
        a.stats.validation_failure(std::string(check->as_string()));
      }
    }
    co_return answer(request, *v);
  });

  r.add(http::verb::post, "/pin-setup", [&a](const http_request& request, const request_context&) -> boost::asio::awaitable<http_response> {
    auto body = json_object_body(request);
    if (!body) co_return error_response(request, http::status::bad_request, "The body must be a JSON object.");
    auto mobile = string_field(*body, "mobile_number", 16);
    auto pin = string_field(*body, "pin", 8);
    auto hash = string_field(*body, "hash", 32);
    if (!mobile || !is_e164(*mobile) || !hash || hash->empty()) {
      co_return error_response(request, http::status::bad_request, "Send mobile_number (E.164), pin and hash.");
    }
    if (!pin || pin->size() < 4 || !std::all_of(pin->begin(), pin->end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      co_return error_response(request, http::status::unprocessable_entity, "The PIN must be 4 to 8 digits.");
    }
    auto work = [secret = a.config.hmac_secret, m = *mobile, p = *pin, h = *hash](pg::connection& c) -> pg::db_result<verdict> {
      return do_pin_setup(c, secret, m, p, h);
    };
    auto step = a.db.call(std::move(work));
    auto v = co_await std::move(step);
    if (!v) co_return error_response(request, http::status::service_unavailable, "PIN setup is not available right now.");
    a.stats.pin_collected(v->status == http::status::ok ? "success" : "rejected");
    co_return answer(request, *v);
  });
}

}  // namespace smsbridge::api
