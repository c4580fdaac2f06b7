// sms-bridge-fwctl's pure parts: strict argument parsing (every number range-checked, every
// unknown flag refused) and JSON rendering of the helper's response.
#include "firewall-helper/fwctl_cli.hpp"

#include <charconv>
#include <map>

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

namespace smsbridge::firewall {

namespace {
using parse = fallible<fwctl_command>;

fallible<std::uint64_t> number(const std::string& flag, const std::string& text, std::uint64_t max) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v > max) {
    return fail(fmt::format("{} needs a whole number from 0 to {}, not '{}'.", flag, max, text));
  }
  return v;
}

// Splits "--flag value" pairs and positional words; flags must be in `allowed`.
fallible<std::pair<std::map<std::string, std::string>, std::vector<std::string>>> split(
    const std::vector<std::string>& args, std::size_t from, std::initializer_list<const char*> allowed) {
  std::map<std::string, std::string> flags;
  std::vector<std::string> words;
  for (std::size_t i = from; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      words.push_back(a);
      continue;
    }
    bool ok = false;
    for (auto f : allowed) ok = ok || a == f;
    if (!ok) return fail(fmt::format("'{}' is not an option of '{}'.", a, args[from - 1]));
    if (i + 1 >= args.size()) return fail(fmt::format("{} needs a value.", a));
    flags[a] = args[++i];
  }
  return std::make_pair(std::move(flags), std::move(words));
}
}  // namespace

std::string fwctl_usage() {
  return "usage: sms-bridge-fwctl [--socket PATH] VERB ...\n"
         "       sms-bridge-fwctl --help | --version\n"
         "\n"
         "Talks to sms-bridge-firewall-helper and prints its answer as JSON on stdout.\n"
         "\n"
         "verbs:\n"
         "  open SERVICE --port N --source CIDR --duration SECONDS [--actor NAME] [--reason TEXT]\n"
         "  extend SERVICE --minutes N | --seconds N [--actor NAME] [--reason TEXT]\n"
         "                (the door's deadline becomes now + N: longer or shorter)\n"
         "  close SERVICE [--actor NAME] [--reason TEXT]\n"
         "  close-all [--actor NAME] [--reason TEXT]\n"
         "  list [--after SERVICE] [--max N]   (a page; next_after_service says where the next starts;\n"
         "                kernel_expires_in_ms is the time left as the kernel's own timeout counts it)\n"
         "  status\n"
         "  check-ports N...\n"
         "  scan-ports --start A --end B --count C\n"
         "  events [--after SEQ] [--max N]\n"
         "  ack SEQ\n"
         "\n"
         "options:\n"
         "  --socket PATH   the helper's socket (default /run/sms-bridge/firewall.sock)\n"
         "  -h, --help      this text\n"
         "  --version       print the version and the git revision it was built from\n"
         "\n"
         "exit codes: 0 ok; 1 the helper refused (its error code and message are printed);\n"
         "            2 usage or connection error.\n";
}

parse parse_fwctl_args(const std::vector<std::string>& args) {
  fwctl_command cmd;
  std::size_t i = 0;
  while (i < args.size() && args[i].rfind("-", 0) == 0) {
    if (args[i] == "-h" || args[i] == "--help") {
      cmd.help = true;
      return cmd;
    }
    if (args[i] == "--version") {
      cmd.version = true;
      return cmd;
    }
    if (args[i] == "--socket") {
      if (i + 1 >= args.size()) return fail("--socket needs a path.");
      cmd.socket_path = args[i + 1];
      i += 2;
      continue;
    }
    return fail(fmt::format("unknown option '{}'; see --help.", args[i]));
  }
  if (i >= args.size()) return fail("no verb given; see --help.");
  const std::string verb = args[i++];
  v1::Request& r = cmd.request;

  if (verb == "open") {
    auto s = split(args, i, {"--port", "--source", "--duration", "--actor", "--reason"});
    if (!s) return s.error();
    auto& [flags, words] = *s;
    if (words.size() != 1) return fail("open needs exactly one SERVICE.");
    for (auto f : {"--port", "--source", "--duration"})
      if (!flags.count(f)) return fail(fmt::format("open needs {}.", f));
    auto port = number("--port", flags["--port"], 65535);
    if (!port) return port.error();
    auto duration = number("--duration", flags["--duration"], 4294967295u);
    if (!duration) return duration.error();
    auto* open = r.mutable_open();
    open->set_service(words[0]);
    open->set_external_port(static_cast<std::uint32_t>(*port));
    open->set_source(flags["--source"]);
    open->set_duration_seconds(static_cast<std::uint32_t>(*duration));
    open->set_actor(flags.count("--actor") ? flags["--actor"] : "");
    open->set_reason(flags["--reason"]);
  } else if (verb == "extend") {
    auto s = split(args, i, {"--minutes", "--seconds", "--actor", "--reason"});
    if (!s) return s.error();
    auto& [flags, words] = *s;
    if (words.size() != 1) return fail("extend needs exactly one SERVICE.");
    if (flags.count("--minutes") == flags.count("--seconds")) return fail("extend needs either --minutes N or --seconds N.");
    std::uint64_t seconds = 0;
    if (flags.count("--minutes")) {
      auto v = number("--minutes", flags["--minutes"], 4294967295u / 60);
      if (!v) return v.error();
      seconds = *v * 60;
    } else {
      auto v = number("--seconds", flags["--seconds"], 4294967295u);
      if (!v) return v.error();
      seconds = *v;
    }
    auto* extend = r.mutable_extend();
    extend->set_service(words[0]);
    extend->set_duration_seconds(static_cast<std::uint32_t>(seconds));
    extend->set_actor(flags["--actor"]);
    extend->set_reason(flags["--reason"]);
  } else if (verb == "close") {
    auto s = split(args, i, {"--actor", "--reason"});
    if (!s) return s.error();
    auto& [flags, words] = *s;
    if (words.size() != 1) return fail("close needs exactly one SERVICE.");
    auto* close = r.mutable_close();
    close->set_service(words[0]);
    close->set_actor(flags["--actor"]);
    close->set_reason(flags["--reason"]);
  } else if (verb == "close-all") {
    auto s = split(args, i, {"--actor", "--reason"});
    if (!s) return s.error();
    auto& [flags, words] = *s;
    if (!words.empty()) return fail("close-all takes no SERVICE.");
    r.mutable_close_all()->set_actor(flags["--actor"]);
    r.mutable_close_all()->set_reason(flags["--reason"]);
  } else if (verb == "list") {
    auto s = split(args, i, {"--after", "--max"});
    if (!s) return s.error();
    auto& [flags, words] = *s;
    if (!words.empty()) return fail("list takes only --after SERVICE and --max N.");
    auto* list = r.mutable_list();
    list->set_after_service(flags["--after"]);
    if (flags.count("--max")) {
      auto v = number("--max", flags["--max"], 100000);
      if (!v) return v.error();
      list->set_max(static_cast<std::uint32_t>(*v));
    }
  } else if (verb == "status") {
    if (i != args.size()) return fail("status takes no arguments.");
    r.mutable_status();
  } else if (verb == "check-ports") {
    if (i == args.size()) return fail("check-ports needs at least one port.");
    for (; i < args.size(); ++i) {
      auto p = number("check-ports", args[i], 65535);
      if (!p) return p.error();
      r.mutable_check_ports()->add_ports(static_cast<std::uint32_t>(*p));
    }
  } else if (verb == "scan-ports") {
    auto s = split(args, i, {"--start", "--end", "--count"});
    if (!s) return s.error();
    auto& [flags, words] = *s;
    if (!words.empty()) return fail("scan-ports takes only --start, --end and --count.");
    auto* scan = r.mutable_scan_ports();
    for (auto f : {"--start", "--end", "--count"}) {
      if (!flags.count(f)) return fail(fmt::format("scan-ports needs {}.", f));
      auto v = number(f, flags[f], 65535);
      if (!v) return v.error();
      if (std::string(f) == "--start") scan->set_start(static_cast<std::uint32_t>(*v));
      else if (std::string(f) == "--end") scan->set_end(static_cast<std::uint32_t>(*v));
      else scan->set_count(static_cast<std::uint32_t>(*v));
    }
  } else if (verb == "events") {
    auto s = split(args, i, {"--after", "--max"});
    if (!s) return s.error();
    auto& [flags, words] = *s;
    if (!words.empty()) return fail("events takes only --after and --max.");
    auto* events = r.mutable_events();
    if (flags.count("--after")) {
      auto v = number("--after", flags["--after"], UINT64_MAX);
      if (!v) return v.error();
      events->set_after_seq(*v);
    }
    if (flags.count("--max")) {
      auto v = number("--max", flags["--max"], 1000);
      if (!v) return v.error();
      events->set_max(static_cast<std::uint32_t>(*v));
    }
  } else if (verb == "ack") {
    if (args.size() - i != 1) return fail("ack needs exactly one SEQ.");
    auto v = number("ack", args[i], UINT64_MAX);
    if (!v) return v.error();
    r.mutable_ack()->set_seq(*v);
  } else {
    return fail(fmt::format("unknown verb '{}'; see --help.", verb));
  }
  return cmd;
}

fwctl_output render_fwctl_response(const v1::Response& response) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(response, &json, options);
  return fwctl_output{json, response.has_error() ? 1 : 0};
}

}  // namespace smsbridge::firewall
