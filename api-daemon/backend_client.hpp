// Signed POSTs to the backend (sync_url, recovery_url): HTTPS with the certificate verified, or
// plain HTTP when the URL says so explicitly. Asynchronous, on the caller's executor, and bounded
// as a whole by one deadline: a backend that accepts and then stalls costs at most that long.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

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
// is trusted in addition to the system's CAs (for a backend with a private CA). `timeout` bounds
// the whole exchange: name lookup, connect, TLS handshake, request and answer. Fails with a
// sentence on any connection, TLS or verification error and on the deadline; a non-2xx answer is
// not a failure here. Parameters by value: the coroutine outlives its caller's temporaries.
boost::asio::awaitable<fallible<backend_answer>> post_signed(std::string url, std::string body, std::string secret,
                                                             std::string idempotency_key, std::string ca_file,
                                                             std::chrono::milliseconds timeout);

}  // namespace smsbridge::api
