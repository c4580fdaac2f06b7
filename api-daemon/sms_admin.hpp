// The admins' side of the SMS flow: GET/POST /admin/sms/settings, the blacklist
// (GET/POST /admin/blacklist, DELETE /admin/blacklist/{number}) and POST /admin/trigger-recovery.
#pragma once

#include "api-daemon/admin_gate.hpp"
#include "api-daemon/backend_client.hpp"
#include "api-daemon/sms_public.hpp"

namespace smsbridge::api {

void add_sms_admin_routes(router& r, admin_gate& gate, sms_api_context& context, backend& to_backend);

}  // namespace smsbridge::api
