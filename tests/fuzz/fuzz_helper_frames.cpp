// libFuzzer: bytes from a client of the firewall helper -> the frame decoder -> Request parsing ->
// the helper core's validation and answers (against a fake kernel and a real state store in a
// temporary directory). What the socket server does with every connection's bytes.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "common/log.hpp"
#include "firewall-helper/firewall_service.hpp"
#include "proto/framing.hpp"

using namespace smsbridge;
using namespace smsbridge::firewall;
using namespace smsbridge::proto;

namespace {
struct quiet_nft final : nft_runner {
  fallible<std::string> run(std::string_view batch, nft_output) override {
    if (batch.rfind("list", 0) == 0) return fail("Error: No such file or directory");
    return std::string();
  }
};
struct no_cutter final : flow_cutter {
  void cut(const cidr&, std::uint16_t) override {}
};
struct idle_probe final : host_probe {
  port_use port_in_use(std::uint16_t port) override { return port == 5555 ? port_use::bound : port == 5556 ? port_use::unknown : port_use::free; }
  std::vector<std::string> warnings(const helper_config&) override { return {}; }
  std::string default_route_address() override { return "192.0.2.10"; }
};

struct world {
  std::string dir;
  helper_config config;
  quiet_nft nft;
  no_cutter cutter;
  idle_probe probe;
  std::int64_t now = 1'800'000'000'000;
  int ids = 0;
  std::unique_ptr<state_store> store;
  std::unique_ptr<firewall_service> service;

  world() {
    char pattern[] = "/tmp/sms-bridge-fuzz-XXXXXX";
    dir = ::mkdtemp(pattern);
    config = *parse_config(R"({"services": {"metrics": {"target": "127.0.0.1:9464"}, "postgres": {"target": "10.9.0.2:5432"}},
                               "duration_seconds": {"min": 1, "max": 14400}, "allowed_uids": [0], "max_grants": 64,
                               "max_pending_events": 256})");
    smsbridge::log::set_sink(nullptr);  // a line per refused frame would drown the fuzzer's output
    store = std::make_unique<state_store>(dir + "/port_mappings.json");
    service = std::make_unique<firewall_service>(
        config, service_deps{nft, cutter, probe, *store, [this] { return now; }, [this] { return "g" + std::to_string(++ids); }});
    (void)service->start();
  }
  ~world() { std::filesystem::remove_all(dir); }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static world w;
  w.now += 1000;
  frame_decoder decoder;
  decoder.feed(std::string_view(reinterpret_cast<const char*>(data), size));
  for (int frames = 0; frames < 16; ++frames) {
    auto next = decoder.next();
    if (!next || !*next) break;
    v1::Request request;
    if (!parse_payload(**next, request)) break;
    const auto answer = w.service->handle(request, peer_identity{static_cast<uid_t>(frames % 3 == 2 ? 65534 : 0), 0, 1});
    (void)encode_frame(answer);  // every answer must fit a frame
  }
  (void)decoder.finish();
  return 0;
}
