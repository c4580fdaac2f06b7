// The one wrapper around libnftables: a long-lived context that runs command batches.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

struct nft_ctx;

namespace smsbridge::firewall {

enum class nft_output { text, json };

// An interface so the helper core can be tested with a fake kernel.
class nft_runner {
 public:
  virtual ~nft_runner() = default;
  // Runs a batch as one transaction: all of it applies or none. Returns what nft printed, or
  // nft's error text. Listing a table that does not exist fails with "No such file or directory".
  virtual fallible<std::string> run(std::string_view batch, nft_output output = nft_output::text) = 0;
};

class nft_context final : public nft_runner {
 public:
  // Throws std::runtime_error if libnftables cannot allocate a context.
  nft_context();
  ~nft_context() override;
  nft_context(const nft_context&) = delete;
  nft_context& operator=(const nft_context&) = delete;

  fallible<std::string> run(std::string_view batch, nft_output output) override;

 private:
  nft_ctx* ctx_;
};

}  // namespace smsbridge::firewall
