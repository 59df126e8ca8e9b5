#pragma once

/// @file
/// A connection whose frames travel over plain HTTP requests: long-polling
/// and Server-Sent Events (docs/protocol.md, "Without WebSockets"). The
/// channel is the transport-independent part: the numbered frames a client
/// has not acknowledged, the close it must still be told about, the one
/// receiver (a waiting poll or an event stream) that gets woken when there
/// is something new, and the connection actor behind it all. The HTTP
/// session (http_session.cpp) does the requests. Beast-free; private to the
/// gateway.
///
/// ```
///   connection actor ──frames──▶ [ 1 2 3 4 ... ]  ──poll?ack=2──▶ 3 4 ...
///   (and rooms)                    kept until acked   or ──events──▶ id: 3 ...
/// ```

#include "parley/gateway/internal/shared_state.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley::gateway::internal {

/// How a channel ended, as a WebSocket close would say it.
struct channel_close {
  uint16_t code = 1000;
  std::string reason;
};

/// One session of the HTTP transports. Thread-safe: the connection actor and
/// the rooms enqueue from CAF threads, requests come on I/O threads, and the
/// sweeper runs on a timer; one mutex guards the state and is never held
/// across I/O or a callback.
class http_channel final : public session_base,
                           public std::enable_shared_from_this<http_channel> {
public:
  using clock = std::chrono::steady_clock;
  /// Wakes the current receiver; called without the lock, from any thread.
  /// The receiver posts to its own executor and then calls `take`.
  using wake_fn = std::function<void()>;

  /// What a receiver gets: frames numbered after its cursor, the number of
  /// the last one (the cursor itself when there are none), and the close
  /// once every frame before it was taken.
  struct batch {
    std::vector<std::shared_ptr<const std::string>> frames;
    uint64_t first = 0; ///< number of frames[0]
    uint64_t last = 0;
    std::optional<channel_close> close;
  };

  /// `key` is the secret every request must show; `slot` counts the
  /// session in the connection caps for as long as it lives.
  http_channel(std::shared_ptr<shared_state> state, connection_slot slot, std::string id,
               std::string key, bool tls);
  ~http_channel() override;

  http_channel(const http_channel&) = delete;
  http_channel& operator=(const http_channel&) = delete;

  /// Spawns the connection actor (once the channel is owned by a
  /// shared_ptr); `token` as on `/ws?token=`.
  void start(std::string token);

  const std::string& id() const {
    return id_;
  }

  /// Whether `key` is this session's key (in constant time).
  bool key_matches(std::string_view key) const;

  // -- the client's requests (I/O threads) ------------------------------------

  /// Hands one client frame (JSON text) to the connection actor.
  void deliver(std::string_view json);

  /// Drops frames up to `n` (the client has them); true unless `n` is past
  /// the last frame sent.
  bool ack(uint64_t n);

  /// Frames after `cursor`, at most `max_bytes` of them (at least one), and
  /// the close once nothing is left before it. `streamed`: the frames go out
  /// on an event stream, which keeps them for a resume only while the bound
  /// allows (see `enqueue`).
  batch take(uint64_t cursor, size_t max_bytes, bool streamed);

  /// Whether a receiver that saw frames up to `cursor` can go on from there:
  /// false when frames after it were dropped (an event stream's resume point
  /// fell out of the kept window).
  bool can_resume_after(uint64_t cursor) const;

  /// Makes `wake` the receiver (a poll that waits, an event stream) and
  /// returns its token; the receiver before it is woken and is no longer
  /// current (`is_current`), so it answers at once.
  uint64_t attach(wake_fn wake);

  /// The receiver `token` is done (answered, timed out, its socket gone):
  /// from now on the session counts as idle until the next one attaches.
  void detach(uint64_t token);

  bool is_current(uint64_t token) const;

  /// The client said the close (it had `close` in a batch) or closed the
  /// session itself (DELETE): the sweeper lets go of it.
  void finish();

  /// Closes the session for `cause` (the table's code and reason) after the
  /// frames already queued; idempotent.
  void request_close(actors::close_cause cause);

  /// Closes with a code and reason of the HTTP transports' own.
  void close_with(channel_close c, const char* dropped_label = nullptr);

  // -- the connection actor's side (any thread) -------------------------------

  actors::sink_status enqueue(std::shared_ptr<const std::string> bytes);
  /// Counts and logs an error reply (as a WebSocket session does).
  void error_sent(int code, std::string_view ref, std::string_view reason);
  void expire_at(std::chrono::system_clock::time_point when);
  void set_identity(const std::string& user, bool guest, std::vector<std::string> rooms);

  // -- the sweeper (a timer of the listener's) --------------------------------

  /// Closes the session if it had no receiver for `idle`, or its token
  /// expired; true when the registry may forget it (finished, or closed and
  /// unclaimed for `idle`).
  bool sweep(clock::time_point now, std::chrono::milliseconds idle);

  // -- session_base -----------------------------------------------------------

  void shutdown() override;
  queue_depth queued() const override;
  std::optional<session_info> describe() const override;
  bool kick(const std::string& reason) override;

private:
  struct kept_frame {
    uint64_t n;
    std::shared_ptr<const std::string> bytes;
  };

  /// With the lock held: returns the receiver to wake (empty: none).
  wake_fn close_locked(channel_close c);
  void drop_front_locked();

  std::shared_ptr<shared_state> state_;
  connection_slot slot_;
  const std::string id_;
  const std::string key_;
  const bool tls_;
  const clock::time_point opened_at_ = clock::now();
  std::unique_ptr<connection_handle> conn_;

  mutable std::mutex mtx_;
  std::deque<kept_frame> frames_;
  size_t bytes_ = 0;
  uint64_t next_n_ = 1;
  /// The highest frame written to an event stream: frames up to it may be
  /// dropped to make room (they are only kept for a resume).
  uint64_t streamed_ = 0;
  /// Frames up to this were dropped without an ack (an event stream's
  /// window, or a slow consumer's queue).
  uint64_t dropped_upto_ = 0;
  std::optional<channel_close> close_;
  bool finished_ = false;
  wake_fn wake_;
  uint64_t receiver_ = 0; ///< the current receiver's token (0: none)
  uint64_t next_token_ = 1;
  clock::time_point idle_since_ = clock::now();
  std::optional<std::chrono::system_clock::time_point> expires_;
  bool kicked_ = false;
  std::string user_;
  bool guest_ = false;
  std::vector<std::string> rooms_;
};

/// Finds `/v1/sessions/ID[/VERB]` in a path: the id and the verb ("" for
/// the session itself); nothing if the path is not under `/v1/sessions/`.
std::optional<std::pair<std::string_view, std::string_view>> channel_path(std::string_view path);

/// 16 random bytes as 32 lowercase hex digits (OpenSSL's RAND_bytes).
std::string random_token();

} // namespace parley::gateway::internal
