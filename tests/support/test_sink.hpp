#pragma once

/// @file
/// A frame sink for tests: a bounded `outbound_queue` that the test drains
/// (or does not, to play a slow consumer), plus the close it received.
/// Thread-safe, and it keeps the frame_sink contract: a frame past the
/// bound closes it as a slow consumer, as a gateway session does. Replies
/// are encoded by the gateway's own edge (gateway/replies.hpp): tests that
/// use this sink link parley::gateway.

#include "parley/actors/outbound.hpp"
#include "parley/gateway/outbound_queue.hpp"
#include "parley/gateway/replies.hpp"
#include "parley/proto/codec.hpp"

#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace parley::test {

class test_sink : public actors::frame_sink {
public:
  explicit test_sink(proto::encoding enc, gateway::outbound_queue::limits lim = {})
    : enc_(enc), queue_(lim) {
    // nop
  }

  actors::sink_status send(std::shared_ptr<const std::string> bytes) override {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_)
      return actors::sink_status::closed;
    written_.push_back(bytes);
    auto status = queue_.push(std::move(bytes));
    if (status == actors::sink_status::overflow) {
      closed_ = true;
      closed_for = actors::close_cause::slow_consumer;
      ++overflows_;
    }
    return status;
  }

  actors::sink_status reply(const actors::server_reply& r, proto::encoding enc) override {
    return send(gateway::encode_reply(r, enc).bytes);
  }

  void close(actors::close_cause cause) override {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_)
      return; // the first close wins, as in a session
    closed_ = true;
    closed_for = cause;
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

  /// Frames refused for the bound (at most 1: the sink closes).
  size_t overflows() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return overflows_;
  }

  /// Every frame handed to the sink, drained or not, as the shared bytes
  /// it got (to see that members share one encoding).
  std::vector<std::shared_ptr<const std::string>> written() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return written_;
  }

  /// Why the sink was closed (by whom it was asked to, or by its overflow).
  std::optional<actors::close_cause> closed_for;

private:
  // Rooms and the connection actor may write from different threads.
  mutable std::mutex mtx_;
  proto::encoding enc_;
  gateway::outbound_queue queue_;
  bool closed_ = false;
  size_t overflows_ = 0;
  std::vector<std::shared_ptr<const std::string>> written_;
};

} // namespace parley::test
