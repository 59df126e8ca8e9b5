#pragma once

/// @file
/// How parley-cli shows what the server sent: one JSON object per line (the
/// protobuf JSON mapping of the ServerFrame, whatever the wire encoding), or
/// with --pretty, short lines for people (`lobby #42 <ann> hello`).

#include "parley/v1/parley.pb.h"

#include <cstdio>
#include <optional>
#include <string>

namespace parley::cli {

namespace v1 = ::parley::v1;

/// Writes frames to one stream (stdout), flushing after each so a pipe
/// (`| jq`) sees every frame at once. Used from one thread.
class printer {
public:
  explicit printer(bool pretty, std::FILE* out = stdout);

  /// Prints `frame`. `rtt_ms`, for a pong, is the round trip the client
  /// measured (pretty mode shows it).
  void print(const v1::ServerFrame& frame, std::optional<double> rtt_ms = std::nullopt);

private:
  void line(const std::string& text);
  void pretty(const v1::ServerFrame& frame, std::optional<double> rtt_ms);
  void message(const v1::Message& msg);

  bool pretty_;
  std::FILE* out_;
};

/// `text` safe to show on a terminal: control characters (C0, DEL, C1),
/// which could move the cursor or recolour the screen, become escapes like
/// `\n` or `\x1b`.
std::string printable(const std::string& text);

} // namespace parley::cli
