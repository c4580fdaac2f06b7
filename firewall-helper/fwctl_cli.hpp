// sms-bridge-fwctl's pure parts: command line -> request, response -> JSON text and exit code.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"

#include "firewall.pb.h"

namespace smsbridge::firewall {

inline constexpr const char* default_socket_path = "/run/sms-bridge/firewall.sock";

struct fwctl_command {
  std::string socket_path = default_socket_path;
  bool help = false;     // -h/--help: print fwctl_usage()
  bool version = false;  // --version: print the version
  v1::Request request;
};

// Parses arguments (without argv[0]). Fails with a one-line usage error.
fallible<fwctl_command> parse_fwctl_args(const std::vector<std::string>& args);

// The --help text.
std::string fwctl_usage();

struct fwctl_output {
  std::string json;  // one JSON document, for stdout
  int exit_code;     // 0 ok, 1 the helper refused
};

fwctl_output render_fwctl_response(const v1::Response& response);

}  // namespace smsbridge::firewall
