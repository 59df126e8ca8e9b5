#pragma once

/// @file
/// A parley.v1 client session over a `ws_client`: requests with fresh refs,
/// each answered by the frame that carries its ref, and the frames the
/// server sends on its own (messages, presence diffs, `left`) kept in order
/// for the caller. Synchronous, like `ws_client`; no CAF, and no Beast in
/// this header or its source.

#include "parley/client/ws_client.hpp"
#include "parley/proto/codec.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace parley::client {

namespace v1 = ::parley::v1;

/// How a session talks; plain data.
struct session_options {
  /// Binary frames (protobuf) or text frames (JSON).
  proto::encoding enc = proto::encoding::json;
  /// Bounds every wait: connecting, and each request's reply.
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
  /// Sent in hello, and as the User-Agent of the upgrade.
  std::string client_name = "parley-client";
  std::string client_version = "0.1";
  /// A JSON Web Token sent in hello (empty: none; the server may then make
  /// the client a guest, or refuse it).
  std::string token;
  /// How wss:// checks the server.
  tls_options tls;
  /// Frames the server sends on its own that arrive while a request waits
  /// for its reply are kept for `next()`. Beyond this many the oldest are
  /// dropped and counted (`dropped()`): a caller that never calls `next()`
  /// (a publisher) sets 0 and keeps nothing.
  size_t max_pending = 10'000;
  /// Sends requests no faster than the welcome's publishPerSecond and
  /// publishBurst allow (the server counts every request), so a long batch
  /// is slowed down rather than refused with RATE_LIMITED.
  bool pace = true;
};

/// The outcome of one request.
struct reply {
  /// The frame carrying the request's ref: an `ack` or an `error`. Empty
  /// when none came.
  std::optional<v1::ServerFrame> frame;
  /// Why no frame came (closed, timed out, interrupted, undecodable), one line.
  std::string failure;

  /// True when the server acknowledged the request.
  bool ok() const {
    return frame && frame->has_ack();
  }

  /// True when the server refused the request (an error frame).
  bool refused() const {
    return frame && frame->has_error();
  }
};

/// One connection to a gateway, speaking parley.v1. Owns its `ws_client`;
/// use it from one thread.
class session {
public:
  explicit session(session_options opts = {});

  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// Connects and upgrades; false on failure (see `error()`).
  bool connect(const ws_url& url);

  // -- requests: each waits for its reply, at most the timeout ---------------------

  /// Sends `frame` with a fresh ref (any ref it carries is replaced).
  reply request(v1::ClientFrame frame);

  /// hello; an empty `user` keeps the server's guest name. On success the
  /// welcome is kept (`welcome()`) and paces later requests.
  reply hello(const std::string& user = "");

  reply join(const std::string& room, std::optional<uint64_t> since_seq = std::nullopt);
  reply leave(const std::string& room);
  reply publish(const std::string& room, const std::string& text, const std::string& body = "");
  reply ping(uint64_t client_time_ms = 0);
  reply rooms();

  // -- frames the server sends on its own ------------------------------------------

  /// The next frame without a ref (kept ones first), waiting at most `wait`.
  /// `closed` covers an undecodable frame too (the connection is then closed
  /// with 1002, see `error()`).
  read_status next(std::chrono::milliseconds wait, v1::ServerFrame& out);

  /// Frames dropped because more than `max_pending` were waiting.
  size_t dropped() const {
    return dropped_;
  }

  // -- the connection --------------------------------------------------------------

  /// Closes with `code` and waits for the server's close (at most the timeout).
  bool close(uint16_t code = 1000, const std::string& reason = "");

  /// The welcome from the last successful hello (empty before).
  const v1::Welcome& welcome() const {
    return welcome_;
  }

  const session_options& options() const {
    return opts_;
  }

  /// The socket, e.g. to call `stop_on_signals`.
  ws_client& socket() {
    return ws_;
  }

  /// What went wrong last, one line.
  const std::string& error() const {
    return error_;
  }

private:
  /// Decodes a message from the server in the encoding its frame type says.
  bool decode(const ws_message& msg, v1::ServerFrame& out);

  /// Keeps an unsolicited frame for `next()`.
  void keep(v1::ServerFrame frame);

  /// Waits until the pacing allows one more request.
  void take_token();

  session_options opts_;
  ws_client ws_;
  uint64_t next_ref_ = 1;
  std::deque<v1::ServerFrame> pending_;
  size_t dropped_ = 0;
  v1::Welcome welcome_;
  std::string error_;
  // Pacing: a token bucket mirroring the server's.
  double tokens_ = 0;
  double rate_ = 0; // 0: not pacing (yet)
  double burst_ = 0;
  std::chrono::steady_clock::time_point refilled_;
};

} // namespace parley::client
