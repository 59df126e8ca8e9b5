#pragma once

/// @file
/// `parley-cli admin ...`: the gateway's admin console from a shell (JSON
/// over HTTP with an operator's token; docs/deploy.md).

#include <string>
#include <vector>

namespace parley::cli {

struct admin_options {
  /// http://HOST:PORT of the console.
  std::string url = "http://127.0.0.1:8081";
  /// The operator's secret (PARLEY_ADMIN_TOKEN), or read from `token_file`.
  std::string token;
  std::string token_file;
  double timeout_s = 10;
  /// What to do: status, connections, rooms, tree, cluster, metrics, kick,
  /// close-room, notice, log-level, drain.
  std::string action;
  /// Its arguments (a connection id and a reason, a room and a text, ...).
  std::vector<std::string> args;
};

/// Prints the console's answer on stdout; 0, 1 (refused or unreachable,
/// one line on stderr) or 2 (bad arguments).
int run_admin(const admin_options& opt);

/// Empty if `url` is http://HOST[:PORT][/], else why not.
std::string check_admin_url(const std::string& url);

} // namespace parley::cli
