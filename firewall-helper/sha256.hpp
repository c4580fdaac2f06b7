// SHA-256 (FIPS 180-4) of a byte string, for the config digest the helper reports in Status.
#pragma once

#include <string>
#include <string_view>

namespace smsbridge::firewall {

// Lower-case hex digest.
std::string sha256_hex(std::string_view data);

}  // namespace smsbridge::firewall
