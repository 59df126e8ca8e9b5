#pragma once

/// @file
/// Logging. Debian's CAF has its logger compiled out, so Parley logs through
/// spdlog (a Debian package): one process-wide logger on stderr.

#include <spdlog/spdlog.h>

#include <optional>
#include <string_view>

namespace parley::runtime {

/// Parses a level name (trace, debug, info, warn, error, off).
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);

/// Sets the level and a pattern with time, level and thread.
void configure_logging(spdlog::level::level_enum level);

} // namespace parley::runtime
