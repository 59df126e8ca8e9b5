#pragma once

/// @file
/// What was built: Parley's version, the git commit of the tree it was
/// built from, and the build type. Every program prints it for `--version`;
/// the gateway also shows it in /healthz and in the admin console's status.

#include <string>
#include <string_view>

namespace parley {

struct build_info {
  /// The project's version (CMake's PROJECT_VERSION), e.g. "0.1.0".
  const char* version;
  /// The commit, 12 hex digits with "-dirty" when tracked files had
  /// changes; "unknown" outside a git checkout (or $PARLEY_COMMIT then).
  const char* commit;
  /// CMake's build type: Release, Debug, RelWithDebInfo, ...
  const char* build_type;
};

/// This build's information (generated at build time).
const build_info& build();

/// The line `--version` prints: "parley-gateway 0.1.0 (commit 0123456789ab,
/// Release)".
inline std::string version_text(std::string_view program) {
  auto& b = build();
  std::string out{program};
  out += ' ';
  out += b.version;
  out += " (commit ";
  out += b.commit;
  out += ", ";
  out += b.build_type;
  out += ')';
  return out;
}

} // namespace parley
