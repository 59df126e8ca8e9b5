#pragma once

/// @file
/// How every Parley program reads its command line (CLI11): --help prints
/// and exits 0, anything wrong prints one line and exits 2. Its own library,
/// `parley_command_line`, with no CAF in it, so tools that must not link the
/// actor runtime (parley-bench) share it.

#include <optional>

namespace CLI {
class App;
} // namespace CLI

namespace parley::runtime {

/// Exit status for a usage error (a bad flag, value or config file).
constexpr int usage_error_status = 2;

/// Parses `argv` into the options of `app`. Returns nothing when the program
/// should go on; otherwise the status to exit with, after printing --help
/// (status 0) or one line naming the bad flag or value (status 2) on stderr.
std::optional<int> parse_command_line(CLI::App& app, int argc, const char* const* argv);

} // namespace parley::runtime
