#pragma once

/// @file
/// Logging. Debian's CAF has its logger compiled out, so Parley logs through
/// spdlog (a Debian package): one process-wide logger on stderr.
///
/// Two helpers keep what clients send from shaping the log: `printable`
/// escapes a client's text before it goes into a line (a newline or an ANSI
/// sequence in a room name or a ref would otherwise forge lines or repaint a
/// terminal), and `log_limiter` lets a line that a client can trigger at
/// will (a refusal, a failed accept) out at most once per interval, with a
/// count of the ones it held back.

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace parley::runtime {

/// Parses a level name (trace, debug, info, warn, error, off).
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);

/// Sets the level and a pattern with time, level and thread.
void configure_logging(spdlog::level::level_enum level);

/// `text` safe for one log line: control characters (C0, DEL and C1),
/// backslashes and bytes that are not UTF-8 become `\xNN` escapes, other
/// UTF-8 stays as it is; more than `max_bytes` of input is cut with "...".
std::string printable(std::string_view text, size_t max_bytes = 256);

/// Lets one line through per `interval` and counts the ones it held back.
/// Thread-safe; one limiter per kind of line.
class log_limiter {
public:
  using clock = std::chrono::steady_clock;

  explicit log_limiter(clock::duration interval = std::chrono::seconds(1)) : interval_(interval) {
    // nop
  }

  /// Empty if this line is held back; else how many were held back since
  /// the last one that went out.
  std::optional<uint64_t> admit(clock::time_point now = clock::now()) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (started_ && now - last_ < interval_) {
      ++held_;
      return std::nullopt;
    }
    started_ = true;
    last_ = now;
    auto held = held_;
    held_ = 0;
    return held;
  }

  /// The suffix for a line that `admit` let out: empty, or
  /// " (and N more like it)".
  static std::string more(uint64_t held) {
    if (held == 0)
      return {};
    return " (and " + std::to_string(held) + " more like it)";
  }

private:
  std::mutex mtx_;
  clock::duration interval_;
  clock::time_point last_;
  uint64_t held_ = 0;
  bool started_ = false;
};

} // namespace parley::runtime
