// sms-bridge-fwctl: wiring only. Parses the command line, calls the helper, prints JSON.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "common/build_info.hpp"
#include "firewall-helper/fwctl_cli.hpp"
#include "proto/helper_client.hpp"

namespace fw = smsbridge::firewall;

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto command = fw::parse_fwctl_args(args);
  if (!command) {
    std::fprintf(stderr, "sms-bridge-fwctl: %s\n", command.error().message.c_str());
    return 2;
  }
  if (command->help) {
    std::fputs(fw::fwctl_usage().c_str(), stdout);
    return 0;
  }
  if (command->version) {
    std::fputs(smsbridge::version_text("sms-bridge-fwctl").c_str(), stdout);
    return 0;
  }
  auto client = fw::helper_client::connect(command->socket_path, std::chrono::seconds(30));
  if (!client) {
    std::fprintf(stderr, "sms-bridge-fwctl: %s\n", client.error().message.c_str());
    return 2;
  }
  auto response = client->call(command->request);
  if (!response) {
    std::fprintf(stderr, "sms-bridge-fwctl: %s\n", response.error().message.c_str());
    return 2;
  }
  const auto out = fw::render_fwctl_response(*response);
  std::fputs(out.json.c_str(), stdout);
  if (out.exit_code == 1) {
    std::fprintf(stderr, "sms-bridge-fwctl: the helper refused: %s: %s\n",
                 fw::v1::ErrorCode_Name(response->error().code()).c_str(), response->error().message().c_str());
  }
  return out.exit_code;
}
