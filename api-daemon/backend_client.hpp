// Signed POSTs to the backend (sync_url, recovery_url): HTTPS with the certificate verified, or
// plain HTTP when the URL says so explicitly. Blocking: call it from a worker thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace smsbridge::api {

struct url_parts {
  bool tls = true;
  std::string host;
  std::string port;
  std::string target;  // path and query, at least "/"
};

// https://host[:port]/path or http://...; fails with a sentence (the URL itself is not secret).
fallible<url_parts> parse_url(std::string_view url);

// The signature headers: X-Timestamp = unix seconds, X-Signature = hex HMAC-SHA256(secret, timestamp + body).
std::string signature(std::string_view secret, std::int64_t unix_seconds, std::string_view body);

struct backend_answer {
  unsigned status = 0;
};

// POSTs a JSON body with X-Timestamp, X-Signature and Idempotency-Key. `ca_file`, if not empty,
// is trusted in addition to the system's CAs (for a backend with a private CA). Fails with a
// sentence on any connection, TLS or verification error; a non-2xx answer is not a failure here.
fallible<backend_answer> post_signed(const std::string& url, const std::string& body, std::string_view secret,
                                     const std::string& idempotency_key, const std::string& ca_file,
                                     std::chrono::seconds timeout);

}  // namespace smsbridge::api
