// The admins' side of notifications: GET and POST /admin/notifications (settings.notifications of
// SETTINGS_FILE, validated, the webhook secret never shown) and POST /admin/notifications/test.
#pragma once

#include "api-daemon/admin_gate.hpp"
#include "api-daemon/notification_outbox.hpp"
#include "api-daemon/settings_source.hpp"

namespace smsbridge::api {

void add_notification_routes(router& r, admin_gate& gate, settings_source& settings, notification_store& store);

}  // namespace smsbridge::api
