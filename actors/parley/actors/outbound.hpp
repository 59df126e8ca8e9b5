#pragma once

/// @file
/// The outbound side of a connection: where its frames go (`frame_sink`),
/// the bounded queue a sink keeps (`outbound_queue`), and WebSocket close
/// codes. The gateway implements the sink over a WebSocket session; tests
/// implement it over a vector.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

namespace parley::actors {

/// WebSocket close codes (RFC 6455), the values of Beast's `close_code`.
enum class close_code : uint16_t {
  normal = 1000,
  going_away = 1001,  ///< the server drains
  protocol_error = 1002,
  unsupported = 1003,
  bad_payload = 1007, ///< invalid UTF-8 in a text frame
  policy = 1008,      ///< flood, slow consumer
  too_big = 1009,
  internal = 1011,
};

/// What happened to a frame handed to a sink (µWebSockets' send result).
enum class sink_status : uint8_t {
  queued,   ///< on its way
  overflow, ///< the queue's bound would be exceeded: a slow consumer
  closed,   ///< the transport is gone
};

/// Where a connection's outbound frames go. Called from the connection
/// actor only; implementations hand the bytes to their I/O thread.
class frame_sink {
public:
  virtual ~frame_sink() = default;

  /// Queues `bytes` (shared, never modified) for the client.
  virtual sink_status send(std::shared_ptr<const std::string> bytes) = 0;

  /// Closes the transport with `code` and a human-readable `reason`.
  virtual void close(close_code code, std::string reason) = 0;
};

using frame_sink_ptr = std::shared_ptr<frame_sink>;

/// A queue bounded in frames and bytes, for frames waiting for the socket.
/// Not thread-safe: its owner (a session's strand, a test) serialises use.
class outbound_queue {
public:
  struct limits {
    /// Frames waiting; a client that reads nothing is cut off at this depth.
    size_t max_frames = 1024;
    /// Bytes waiting, counted by payload size.
    size_t max_bytes = 4 * 1024 * 1024;
  };

  outbound_queue() = default;

  explicit outbound_queue(limits lim) : limits_(lim) {
    // nop
  }

  /// Appends a frame, or refuses it if a bound would be exceeded.
  sink_status push(std::shared_ptr<const std::string> bytes) {
    auto size = bytes ? bytes->size() : 0;
    if (frames_.size() + 1 > limits_.max_frames || bytes_ + size > limits_.max_bytes)
      return sink_status::overflow;
    bytes_ += size;
    frames_.push_back(std::move(bytes));
    return sink_status::queued;
  }

  bool empty() const {
    return frames_.empty();
  }

  const std::shared_ptr<const std::string>& front() const {
    return frames_.front();
  }

  /// Drops the front frame once it was written.
  void pop() {
    bytes_ -= frames_.front() ? frames_.front()->size() : 0;
    frames_.pop_front();
  }

  size_t frames() const {
    return frames_.size();
  }

  size_t bytes() const {
    return bytes_;
  }

  const limits& bounds() const {
    return limits_;
  }

private:
  limits limits_;
  std::deque<std::shared_ptr<const std::string>> frames_;
  size_t bytes_ = 0;
};

} // namespace parley::actors
