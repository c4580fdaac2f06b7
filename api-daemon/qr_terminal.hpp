// A QR code drawn with text, for `admin totp enable` (the one wrapper around libqrencode).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smsbridge::api {

// The modules of a QR code of `text` (error correction M), true = dark; nullopt if it does not
// fit a QR code (thousands of bytes) or memory ran out.
std::optional<std::vector<std::vector<bool>>> qr_modules(std::string_view text);

// The modules as lines of Unicode half blocks, two module rows per line, with a quiet zone of two
// modules: light modules are drawn (block characters), dark ones left blank. With `ansi`, each line
// is painted white on black so the code reads right on a light terminal too. Pure.
std::string render_qr(const std::vector<std::vector<bool>>& modules, bool ansi);

}  // namespace smsbridge::api
