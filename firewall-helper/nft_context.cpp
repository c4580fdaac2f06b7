// The one wrapper around libnftables. One context for the helper's lifetime: a new context per
// operation costs milliseconds (netlink socket set-up and teardown), a reused one ~65 µs.
#include "firewall-helper/nft_context.hpp"

#include <nftables/libnftables.h>

#include <stdexcept>

namespace smsbridge::firewall {

nft_context::nft_context() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
  if (!ctx_) throw std::runtime_error("libnftables could not create a context");
  nft_ctx_buffer_output(ctx_);
  nft_ctx_buffer_error(ctx_);
}

nft_context::~nft_context() { nft_ctx_free(ctx_); }

fallible<std::string> nft_context::run(std::string_view batch, nft_output output) {
  // Numeric output: nft must never print (or look up) names for addresses and ports.
  unsigned flags = NFT_CTX_OUTPUT_NUMERIC_ALL;
  if (output == nft_output::json) flags |= NFT_CTX_OUTPUT_JSON;
  nft_ctx_output_set_flags(ctx_, flags);
  const std::string text(batch);
  const int rc = nft_run_cmd_from_buffer(ctx_, text.c_str());
  // Reading a buffer also resets it for the next command.
  std::string out = nft_ctx_get_output_buffer(ctx_);
  std::string err = nft_ctx_get_error_buffer(ctx_);
  if (rc != 0) {
    if (err.empty()) err = "nft refused the batch without a message";
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return fail(err);
  }
  return out;
}

}  // namespace smsbridge::firewall
