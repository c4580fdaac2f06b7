// QR codes through libqrencode, drawn with half blocks.
#include "api-daemon/qr_terminal.hpp"

#include <memory>

#include <qrencode.h>

namespace smsbridge::api {

std::optional<std::vector<std::vector<bool>>> qr_modules(std::string_view text) {
  const std::string copy(text);  // QRcode_encodeString needs a NUL-terminated string
  std::unique_ptr<QRcode, decltype(&QRcode_free)> code(QRcode_encodeString(copy.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), &QRcode_free);
  if (!code) return std::nullopt;
  const auto width = static_cast<std::size_t>(code->width);
  std::vector<std::vector<bool>> modules(width, std::vector<bool>(width));
  for (std::size_t y = 0; y < width; ++y) {
    for (std::size_t x = 0; x < width; ++x) modules[y][x] = (code->data[y * width + x] & 1) != 0;
  }
  return modules;
}

std::string render_qr(const std::vector<std::vector<bool>>& modules, bool ansi) {
  constexpr std::size_t quiet = 2;
  const std::size_t width = modules.size() + 2 * quiet;
  const auto light = [&](std::size_t y, std::size_t x) {
    if (y < quiet || x < quiet || y >= quiet + modules.size() || x >= quiet + modules.size()) return true;
    return !modules[y - quiet][x - quiet];
  };
  std::string out;
  for (std::size_t y = 0; y < width; y += 2) {
    if (ansi) out += "\x1b[40;97m";
    for (std::size_t x = 0; x < width; ++x) {
      const bool top = light(y, x);
      const bool bottom = y + 1 < width ? light(y + 1, x) : false;
      out += top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ";
    }
    if (ansi) out += "\x1b[0m";
    out += '\n';
  }
  return out;
}

}  // namespace smsbridge::api
