#pragma once

/// @file
/// The outbound side of a connection: where its frames go (`frame_sink`),
/// the bounded queue a sink keeps (`outbound_queue`), and WebSocket close
/// codes. The gateway implements the sink over a WebSocket session; tests
/// implement it over a vector.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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
  overflow, ///< past the queue's bound: a slow consumer, which the sink closes
  closed,   ///< the transport is gone
};

/// Where a connection's outbound frames go. Called by the connection actor
/// and by the rooms (and relays) that write their members' frames, from any
/// thread and possibly at once: implementations are thread-safe and hand
/// the bytes to their I/O thread.
///
/// A sink that refuses a frame for its bound (`overflow`) has a client that
/// does not read: the sink itself closes it as a slow consumer (1008, the
/// frames behind the one in flight dropped) and counts it, so a room that
/// writes to thousands of sinks needs to do nothing about it. Frames after
/// that are refused (`closed`); the client resumes with `since_seq`.
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
///
/// Every connection has one and most of them are empty most of the time,
/// so an empty queue holds no memory: a vector read from `head_`, not a
/// `std::deque` (libstdc++'s allocates a 512-byte block and its map when
/// constructed, about 600 bytes per idle connection). The vector's capacity
/// is kept for the next burst unless it grew past `keep_slots`.
class outbound_queue {
public:
  struct limits {
    /// Frames waiting; a client that reads nothing is cut off at this depth.
    size_t max_frames = 1024;
    /// Bytes waiting, counted by payload size.
    size_t max_bytes = 4 * 1024 * 1024;
  };

  /// Slots an emptied queue keeps for the next burst.
  static constexpr size_t keep_slots = 16;

  outbound_queue() = default;

  explicit outbound_queue(limits lim) : limits_(lim) {
    // nop
  }

  /// Appends a frame, or refuses it if a bound would be exceeded.
  sink_status push(std::shared_ptr<const std::string> bytes) {
    auto size = bytes ? bytes->size() : 0;
    if (frames() + 1 > limits_.max_frames || bytes_ + size > limits_.max_bytes)
      return sink_status::overflow;
    if (head_ > 0 && slots_.size() == slots_.capacity()) {
      // Reuse the consumed front instead of growing.
      slots_.erase(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    bytes_ += size;
    slots_.push_back(std::move(bytes));
    return sink_status::queued;
  }

  bool empty() const {
    return head_ == slots_.size();
  }

  const std::shared_ptr<const std::string>& front() const {
    return slots_[head_];
  }

  /// Drops the front frame once it was written.
  void pop() {
    auto& f = slots_[head_];
    bytes_ -= f ? f->size() : 0;
    f.reset();
    if (++head_ == slots_.size()) {
      slots_.clear();
      head_ = 0;
      if (slots_.capacity() > keep_slots)
        std::vector<std::shared_ptr<const std::string>>{}.swap(slots_);
    }
  }

  /// Drops every frame behind the front one (the frame being written);
  /// returns how many were dropped.
  size_t drop_behind_front() {
    if (frames() <= 1)
      return 0;
    size_t dropped = 0;
    for (auto i = head_ + 1; i < slots_.size(); ++i, ++dropped)
      bytes_ -= slots_[i] ? slots_[i]->size() : 0;
    slots_.resize(head_ + 1);
    return dropped;
  }

  size_t frames() const {
    return slots_.size() - head_;
  }

  size_t bytes() const {
    return bytes_;
  }

  /// Slots allocated now (for tests of the memory an idle queue keeps).
  size_t capacity() const {
    return slots_.capacity();
  }

  const limits& bounds() const {
    return limits_;
  }

private:
  limits limits_;
  std::vector<std::shared_ptr<const std::string>> slots_;
  size_t head_ = 0;
  size_t bytes_ = 0;
};

} // namespace parley::actors
