// POSTs to receivers outside (the backend's sync_url and recovery_url, notification webhooks and
// ntfy): HTTPS with the certificate verified, or plain HTTP when the URL says so explicitly. Asynchronous, on the caller's executor, and bounded
// as a whole by one deadline: a backend that accepts and then stalls costs at most that long.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// One outgoing POST: its body, content type and extra headers, and what the receiver is called in
// error sentences ("the backend", "the webhook").
struct outgoing_post {
  std::string receiver = "the backend";
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// POSTs `request` to `url`, with the same TLS, CA file and deadline rules as post_signed below.
// Fails with a sentence naming request.receiver; a non-2xx answer is not a failure here.
boost::asio::awaitable<fallible<backend_answer>> post_to(std::string url, outgoing_post request, std::string ca_file,
                                                         std::chrono::milliseconds timeout);

// The signature headers of a JSON body signed with `secret` (X-Timestamp, X-Signature) and its
// Idempotency-Key, as a request for post_to.
outgoing_post signed_json(std::string receiver, std::string body, std::string_view secret, std::string idempotency_key);

// POSTs a JSON body with X-Timestamp, X-Signature and Idempotency-Key. `ca_file`, if not empty,
// is trusted in addition to the system's CAs (for a backend with a private CA). `timeout` bounds
// the whole exchange: name lookup, connect, TLS handshake, request and answer. Fails with a
// sentence on any connection, TLS or verification error and on the deadline; a non-2xx answer is
// not a failure here. Parameters by value: the coroutine outlives its caller's temporaries.
boost::asio::awaitable<fallible<backend_answer>> post_signed(std::string url, std::string body, std::string secret,
                                                             std::string idempotency_key, std::string ca_file,
                                                             std::chrono::milliseconds timeout);

// The backend as the outbox and trigger-recovery see it: one signed POST. https_backend is the
// real one; the tests use a fake.
class backend {
 public:
  virtual ~backend() = default;
  virtual boost::asio::awaitable<fallible<backend_answer>> post(std::string url, std::string body, std::string idempotency_key,
                                                                std::chrono::milliseconds timeout) = 0;
};

class https_backend final : public backend {
 public:
  https_backend(std::string secret, std::string ca_file) : secret_(std::move(secret)), ca_file_(std::move(ca_file)) {}
  boost::asio::awaitable<fallible<backend_answer>> post(std::string url, std::string body, std::string idempotency_key,
                                                        std::chrono::milliseconds timeout) override {
    auto step = post_signed(std::move(url), std::move(body), secret_, std::move(idempotency_key), ca_file_, timeout);
    co_return co_await std::move(step);
  }

 private:
  std::string secret_, ca_file_;
};

}  // namespace smsbridge::api
