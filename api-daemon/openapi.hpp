// The OpenAPI 3 document of both listeners (docs/openapi.yaml, embedded as JSON at build time by
// embed_openapi.py) and the route that serves it.
#pragma once

#include <string_view>

#include "api-daemon/http_router.hpp"

namespace smsbridge::api {

// docs/openapi.yaml as compact JSON.
std::string_view openapi_json();

// GET /admin/openapi.json. No login: the document holds no secrets (only the routes, which the
// admin UI's script names anyway) and clients generate code from it before they have credentials.
void add_openapi_route(router& r);

}  // namespace smsbridge::api
