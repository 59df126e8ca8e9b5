#pragma once

/// @file
/// The outbound side of a connection, as the actors see it: a `frame_sink`
/// takes encoded frames (from rooms and relays, which encode each frame once
/// for all their members), replies as plain structs (from the connection
/// actor: the edge encodes them), and a close with its cause. The gateway
/// implements the sink over a WebSocket session (gateway/ws_session.cpp),
/// with its bounded write queue and the close codes of the error table;
/// tests implement it over a queue (tests/support/test_sink.hpp).

#include "parley/proto/codec.hpp"

#include <cstddef>
#include <cstdint>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace parley::actors {

struct server_reply; // replies.hpp

/// What happened to a frame handed to a sink (µWebSockets' send result).
enum class sink_status : uint8_t {
  queued,   ///< on its way
  overflow, ///< past the queue's bound: a slow consumer, which the sink closes
  closed,   ///< the transport is gone
};

/// Every reason the server ends a client's transport. The edge's error table
/// (gateway/error_table.hpp) gives each its close code, reason and metrics
/// label.
enum class close_cause : uint8_t {
  /// The gateway drains (SIGTERM) or the node stops the connection.
  shutting_down,
  /// The connection's actor failed: the client reconnects and resumes.
  crashed,
  /// More refused requests in a row than `--rate-strikes`.
  flooding,
  /// The client did not read: its write queue filled up.
  slow_consumer,
  /// A message over `--max-frame-bytes` (Beast closes it).
  too_big,
  /// Invalid UTF-8 in a text message (Beast closes it).
  bad_utf8,
  /// A WebSocket protocol violation, such as an unmasked frame (Beast).
  protocol_violation,
  /// A token that does not verify, or none where one is required.
  unauthenticated,
  /// The connection's token expired (the transport closes it then).
  token_expired,
};

/// Where a connection's outbound frames go. Called by the connection actor
/// and by the rooms (and relays) that write their members' frames, from any
/// thread and possibly at once: implementations are thread-safe and hand
/// the bytes to their I/O thread.
///
/// A sink that refuses a frame for its bound (`overflow`) has a client that
/// does not read: the sink itself closes it as a slow consumer (1008 with a
/// reason, the frames behind the one in flight dropped) and counts it, so a
/// room that writes to thousands of sinks needs to do nothing about it.
/// Frames after that are refused (`closed`); the client resumes with
/// `since_seq`.
class frame_sink {
public:
  virtual ~frame_sink() = default;

  /// Queues `bytes` (an encoded server frame: shared, never modified).
  virtual sink_status send(std::shared_ptr<const std::string> bytes) = 0;

  /// Encodes `r` in `enc` and queues it, as `send` does. (By reference:
  /// the sink's own file needs no more than the declaration above.)
  virtual sink_status reply(const server_reply& r, proto::encoding enc) = 0;

  /// Closes the transport for `cause`.
  virtual void close(close_cause cause) = 0;

  /// The connection's token expires at `when`: the transport closes it
  /// then (`close_cause::token_expired`), whether or not the client sends
  /// anything. The transport keeps the timer, so an actor that ended early
  /// is not held until then. A later call replaces the deadline. By
  /// default nothing: a sink without a timer of its own (a test's).
  virtual void expire_at(std::chrono::system_clock::time_point when) {
    (void)when;
  }

  /// Who the connection speaks for and the rooms it is in, for operators
  /// (the admin console's `/connections`): called whenever either changes.
  /// By default nothing.
  virtual void describe_as(const std::string& user, bool guest, std::vector<std::string> rooms) {
    (void)user;
    (void)guest;
    (void)rooms;
  }
};

using frame_sink_ptr = std::shared_ptr<frame_sink>;

} // namespace parley::actors
