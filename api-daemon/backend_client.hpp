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
