#pragma once

/// @file
/// A WebSocket session's write queue: frames waiting for the socket,
/// bounded in frames and bytes.

#include "parley/actors/outbound.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace parley::gateway {

using actors::sink_status;

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

} // namespace parley::gateway
