// libFuzzer: every JSON settings loader — sms_settings.json's monitoring_ports and SMS rules, and
// the firewall helper's own config.
#include <cstdint>
#include <string_view>

#include "api-daemon/monitoring_settings.hpp"
#include "api-daemon/sms_rules.hpp"
#include "firewall-helper/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)smsbridge::api::parse_monitoring_ports(text);
  (void)smsbridge::api::parse_sms_settings(text);
  (void)smsbridge::firewall::parse_config(text);
  return 0;
}
