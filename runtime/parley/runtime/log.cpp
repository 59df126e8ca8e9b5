#include "parley/runtime/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace parley::runtime {

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) {
  using spdlog::level::level_enum;
  if (name == "trace")
    return level_enum::trace;
  if (name == "debug")
    return level_enum::debug;
  if (name == "info")
    return level_enum::info;
  if (name == "warn")
    return level_enum::warn;
  if (name == "error")
    return level_enum::err;
  if (name == "off")
    return level_enum::off;
  return std::nullopt;
}

void configure_logging(spdlog::level::level_enum level) {
  // Logs go to stderr so that a program's stdout stays its output.
  static auto logger = [] {
    auto result = spdlog::stderr_color_mt("parley");
    spdlog::set_default_logger(result);
    return result;
  }();
  spdlog::set_level(level);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
}

} // namespace parley::runtime

namespace parley::runtime {

namespace {

/// The length of the UTF-8 sequence starting at `s[i]` if it is a valid one
/// (no overlong forms, no surrogates, nothing past U+10FFFF), else 0.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2))
      return 0;
    if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) >= 0xA0))
      return 0; // overlong, or a surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3))
      return 0;
    if ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) >= 0x90))
      return 0; // overlong, or past U+10FFFF
    return 4;
  }
  return 0;
}

void escape_byte(std::string& out, unsigned char c) {
  static constexpr char hex[] = "0123456789abcdef";
  out += "\\x";
  out += hex[c >> 4];
  out += hex[c & 0xF];
}

} // namespace

std::string printable(std::string_view text, size_t max_bytes) {
  std::string out;
  bool cut = text.size() > max_bytes;
  if (cut)
    text = text.substr(0, max_bytes);
  out.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    auto n = utf8_sequence(text, i);
    if (n == 0) {
      escape_byte(out, c); // not UTF-8 (or cut in the middle of a character)
      ++i;
    } else if (n == 1) {
      if (c < 0x20 || c == 0x7F || c == '\\')
        escape_byte(out, c);
      else
        out += static_cast<char>(c);
      ++i;
    } else if (n == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) {
      // C1 controls, U+0080 to U+009F (U+009B is a one-character CSI).
      escape_byte(out, c);
      escape_byte(out, static_cast<unsigned char>(text[i + 1]));
      i += 2;
    } else {
      out.append(text.data() + i, n);
      i += n;
    }
  }
  if (cut)
    out += "...";
  return out;
}

} // namespace parley::runtime
