#include "parley/runtime/command_line.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <string>

namespace parley::runtime {

std::optional<int> parse_command_line(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    // One line: what is wrong, and where to look.
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    std::cerr << app.get_name() << ": error: " << what << " (see --help)\n";
    return usage_error_status;
  }
  return std::nullopt;
}

} // namespace parley::runtime
