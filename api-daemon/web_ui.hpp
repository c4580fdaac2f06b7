// The admin web UI: its assets are compiled into the binary (api-daemon/web/, embedded by
// embed_web.cmake), so nothing is read from disk or fetched from elsewhere at run time.
#pragma once

#include <string_view>
#include <vector>

#include "api-daemon/http_router.hpp"

namespace smsbridge::api {

struct web_asset {
  std::string_view name;          // e.g. "app.js"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view body;
};

const std::vector<web_asset>& web_assets();

// The headers every admin answer carries: no caching, no framing, no referrer, no sniffing, and
// a Content-Security-Policy that allows only this origin's script and style (no inline script,
// no eval). JSON answers get the same policy with nothing allowed at all.
void set_admin_security_headers(http_response& response, bool html);

// GET /admin and /admin/ (the page) and /admin/assets/{app.js,app.css,favicon.svg}. They hold no data and need
// no login: the page asks /admin/session and shows the login form or the app.
void add_web_ui_routes(router& r);

}  // namespace smsbridge::api
