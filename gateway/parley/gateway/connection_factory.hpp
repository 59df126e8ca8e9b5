#pragma once

/// @file
/// The seam between the Beast side and the actor side of the gateway. This
/// header includes neither Beast nor CAF, so each side compiles alone.

#include "parley/actors/outbound.hpp"
#include "parley/proto/codec.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace parley::gateway {

/// A session's view of its connection actor. Owned by the session and used
/// on its strand only; the implementation sends messages to the actor.
class connection_handle {
public:
  virtual ~connection_handle() = default;

  /// Decodes `payload` (on the caller's thread) and hands the frame, or the
  /// decode error, to the connection actor.
  virtual void deliver(std::string_view payload, proto::encoding enc) = 0;

  /// Stops the connection actor (the session is gone).
  virtual void stop() = 0;
};

/// Spawns a connection actor that writes to `sink`. `session_id` names the
/// session in logs and in the welcome; `token` is the one the client gave
/// in the upgrade's URL (`/ws?token=...`), or empty.
using connection_factory = std::function<std::unique_ptr<connection_handle>(
  std::string session_id, actors::frame_sink_ptr sink, std::string token)>;

} // namespace parley::gateway
