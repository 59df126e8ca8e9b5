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
