#pragma once

/// @file
/// One actor per client session: it knows the user and the rooms they
/// joined, turns requests (decoded at the gateway's edge: requests.hpp) into
/// room calls, and hands its replies and errors to one `frame_sink` as plain
/// structs (replies.hpp), which the edge encodes. It never sees a protobuf
/// frame or a wire code.
///
/// ```
///           frame / bad frame (from the gateway's session)
///   client ───────────────────────────▶ connection ──▶ directory / rooms
///      ▲                                   │               │
///      └──────── frame_sink ◀──────────────┘               │
///                   ▲                                      │
///                   └──── room frames, written by the room ┘
/// ```
///
/// A room writes its frames to the sinks of its members on this node
/// itself, starting with the join reply: one call per member, rather than
/// a message through each member's mailbox and the scheduler. On another
/// node the room's relay does the same; nothing of a room comes through
/// the connection's mailbox.
///
/// Floods meet a token bucket: past it a request gets RATE_LIMITED, and
/// after `max_strikes` refused requests in a row the connection is closed
/// (1008). A frame that does not decode takes a token like a request and
/// gets an error (with its ref when it could be read); a flood of them ends
/// the same way. A sink that overflows (the connection's own write or a
/// room's) means the client does not read: the sink closes it as a slow
/// consumer (1008) and it loses nothing it cannot get back by joining with
/// `since_seq`.

#include "parley/actors/auth.hpp"
#include "parley/actors/chat.hpp"
#include "parley/actors/outbound.hpp"
#include "parley/actors/replies.hpp"
#include "parley/actors/requests.hpp"
#include "parley/actors/rooms_directory.hpp"
#include "parley/actors/token_bucket.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <set>

namespace parley::actors {

/// The messages a connection understands.
using connection_actor = caf::typed_actor<
  // A request (decoded at the gateway's edge) and the encoding it came in
  // (replies use it).
  caf::reacts_to<request_atom, client_request, encoding>,
  // A payload that did not decode.
  caf::reacts_to<bad_frame_atom, proto::decode_error, encoding>>;

/// Counters shared by all connections of a node (for /metrics).
struct connection_stats {
  std::atomic<uint64_t> frames_in{0};
  /// Replies and errors the connection actors handed to their sinks. Rooms
  /// write their frames to the sinks themselves (the gateway's own counters
  /// see every frame written, and count errors by wire code).
  std::atomic<uint64_t> frames_out{0};
  std::atomic<uint64_t> bad_frames{0};
  std::atomic<uint64_t> rate_limited{0};
  std::atomic<uint64_t> rate_limit_disconnects{0};
  /// Requests that failed (bad frames included).
  std::atomic<uint64_t> errors{0};
  /// Connection actors alive now.
  std::atomic<int64_t> open{0};
  /// Requests connection actors await from rooms and the directory, each
  /// with a timeout in CAF's clock; returns to zero when they are answered
  /// or their connection ends.
  std::atomic<int64_t> pending_requests{0};
};

struct connection_config {
  /// Node name, sent in the welcome.
  std::string node = "parley";
  /// Limits announced in the welcome (the gateway enforces them).
  proto::codec_limits limits;
  uint32_t backlog = 25;
  /// Requests per second a client may send on average ...
  double rate = 50;
  /// ... and in a burst.
  double burst = 100;
  /// Refused requests in a row before the connection is closed.
  uint32_t max_strikes = 50;
  /// Who may connect and as whom (auth.hpp). `none` here, for programs
  /// that embed connections; the gateway's `--auth` defaults to `guests`.
  auth_mode auth = auth_mode::none;
  /// Checks tokens; required unless `auth` is `none` (without one, every
  /// token is refused).
  std::shared_ptr<const token_verifier> verifier;
  /// The rooms guests may use (`guests` mode).
  room_access guest_rooms = room_access::everything();
  /// Longest wait for the directory or a room (local; bounded anyway).
  caf::timespan request_timeout = std::chrono::seconds(10);
  std::shared_ptr<connection_stats> stats = std::make_shared<connection_stats>();
};

/// A request's error as a Parley code: its own if it has one; CAF's
/// request timeout and a receiver that went away are `unavailable` (worth a
/// retry), anything else `internal`. The edge's error table gives the wire
/// code (gateway/error_table.hpp).
runtime::errc to_errc(const caf::error& err);


class connection_state {
public:
  using pointer = connection_actor::stateful_pointer<connection_state>;

  static inline const char* name = "parley.connection";

  explicit connection_state(pointer self) : self_(self) {
    // nop
  }

  ~connection_state();

  /// `token`: one the client gave before the first frame (the `token`
  /// query parameter of /ws), or empty.
  void init(std::string session_id, connection_config cfg, rooms_actor rooms, frame_sink_ptr sink,
            const std::string& token);

  void on_request(client_request& req, encoding enc);
  void on_bad_frame(const proto::decode_error& err, encoding enc);

  const std::string& user() const {
    return user_;
  }

private:
  void on(const std::string& ref, request::hello& req, encoding enc);
  void on(const std::string& ref, request::join& req, encoding enc);
  void on(const std::string& ref, request::leave& req, encoding enc);
  void on(const std::string& ref, request::publish& req, encoding enc);
  void on(const std::string& ref, request::history& req, encoding enc);
  void on(const std::string& ref, request::presence& req, encoding enc);
  void on(const std::string& ref, request::rooms& req, encoding enc);
  void on(const std::string& ref, request::ping& req, encoding enc);
  /// Verifies `token` and takes its holder's name and rooms; on failure the
  /// client gets UNAUTHENTICATED and close 1008 (false then).
  bool authenticate(const std::string& ref, const std::string& token, encoding enc);
  /// UNAUTHENTICATED with `reason`, then close 1008.
  void refuse_unauthenticated(const std::string& ref, const std::string& reason, encoding enc);
  /// FORBIDDEN unless the user has right `r` in `room` (false then).
  bool may(const std::string& ref, const std::string& room, right r, encoding enc);
  /// Takes a token for a request or a bad frame. Without one the client
  /// gets RATE_LIMITED, or after `max_strikes` refusals in a row is closed
  /// (1008); false then.
  bool admit(const std::string& ref, encoding enc);
  /// The rooms directory to ask (null while none runs).
  rooms_actor directory();

  /// A request with the configured timeout, counted as pending until one of
  /// its handlers calls `done()` (or the connection ends).
  template <class Handle, class... Ts>
  auto ask(const Handle& dest, Ts&&... xs) {
    ++pending_;
    cfg_.stats->pending_requests.fetch_add(1, std::memory_order_relaxed);
    return self_->request(dest, cfg_.request_timeout, std::forward<Ts>(xs)...);
  }

  void done() {
    --pending_;
    cfg_.stats->pending_requests.fetch_sub(1, std::memory_order_relaxed);
  }

  /// The joined room of that name, or an error reply and nothing.
  room_actor member_of(const std::string& ref, const std::string& room, encoding enc);

  void error(const std::string& ref, runtime::errc code, std::string reason, encoding enc);
  void error(const std::string& ref, const caf::error& err, encoding enc);
  void send(server_reply r, encoding enc);

  /// Tells the sink who we are and where (frame_sink::describe_as).
  void report();
  /// Closes the transport for `cause` and ends the actor.
  void close(close_cause cause);

  pointer self_;
  /// `stats->open` counts this connection (undone by the destructor).
  bool counted_ = false;
  std::string session_id_;
  std::string user_;
  /// No verified token (a guest's name starts with '~').
  bool guest_ = true;
  /// A token verified: the name and rooms are the token's.
  bool authenticated_ = false;
  /// The rooms the user may use and how.
  room_access access_;
  /// When the token expires (if it does): requests after it are refused.
  std::optional<std::chrono::system_clock::time_point> expires_;
  connection_config cfg_;
  rooms_actor rooms_;
  frame_sink_ptr sink_;
  std::optional<token_bucket> bucket_;
  uint32_t strikes_ = 0;
  /// The encoding of the latest join, for frames the connection sends on its
  /// own (a room that ended); rooms write each member's frames in its join
  /// encoding.
  encoding delivery_enc_ = encoding::json;
  std::map<std::string, room_actor> joined_;
  bool closed_ = false;
  /// Requests sent with `ask` and not yet answered.
  int64_t pending_ = 0;
};

/// `token`: see `connection_state::init`.
connection_actor::behavior_type connection_impl(connection_state::pointer self,
                                                std::string session_id, connection_config cfg,
                                                rooms_actor rooms, frame_sink_ptr sink,
                                                std::string token);

} // namespace parley::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::proto::encoding)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::frame_sink_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::connection_config)

// Local only: a session hands its connection actor plain requests.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::client_request)
