#pragma once

/// @file
/// A frame sink for tests: a bounded `outbound_queue` that the test drains
/// (or does not, to play a slow consumer), plus the close it received.
/// Thread-safe, as the frame_sink contract asks.

#include "parley/actors/outbound.hpp"
#include "parley/proto/codec.hpp"

#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace parley::test {

class test_sink : public actors::frame_sink {
public:
  explicit test_sink(proto::encoding enc, actors::outbound_queue::limits lim = {})
    : enc_(enc), queue_(lim) {
    // nop
  }

  actors::sink_status send(std::shared_ptr<const std::string> bytes) override {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_)
      return actors::sink_status::closed;
    return queue_.push(std::move(bytes));
  }

  void close(actors::close_code code, std::string reason) override {
    std::lock_guard<std::mutex> guard{mtx_};
    closed_ = true;
    close_code = code;
    close_reason = std::move(reason);
  }

  /// Takes every queued frame, decoded.
  std::vector<v1::ServerFrame> drain() {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<v1::ServerFrame> result;
    while (!queue_.empty()) {
      auto res = proto::decode_server(*queue_.front(), enc_);
      queue_.pop();
      if (auto* f = std::get_if<v1::ServerFrame>(&res))
        result.push_back(*f);
      else
        result.emplace_back(); // undecodable: an empty frame the test will notice
    }
    return result;
  }

  size_t queued() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return queue_.frames();
  }

  bool closed() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return closed_;
  }

  std::optional<actors::close_code> close_code;
  std::string close_reason;

private:
  // Rooms and the connection actor may write from different threads.
  mutable std::mutex mtx_;
  proto::encoding enc_;
  actors::outbound_queue queue_;
  bool closed_ = false;
};

} // namespace parley::test
