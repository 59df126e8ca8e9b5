#pragma once

// The WebSocket session (Beast only: no CAF header may be included here,
// for compile cost, and `net` would clash with caf::net), a template over
// the stream under the WebSocket: the plain socket (ws_session.cpp) or TLS
// (ws_session_tls.cpp), each instantiated in its own file so the two
// compile in parallel. One class of about 430 lines: its read loop, write
// queue and close handshake share flags that only its strand touches, and
// their order is the point (the close waits for the write in flight, reads
// stop once the close is out). The HTTP side and the socket's teardown are
// in their own files. Private to the gateway.
#include "parley/gateway/internal/ws_session.hpp"

#include "parley/gateway/error_table.hpp"
#include "parley/gateway/replies.hpp"
#include "parley/gateway/internal/server_socket.hpp"
#include "parley/runtime/log.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/url/parse.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace parley::gateway::internal {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace ws_detail {

/// Server frames in JSON always start with '{'; a protobuf ServerFrame never
/// does (0x7B would be field 15 as a group, which proto3 has not).
inline bool is_json(const std::string& bytes) {
  return !bytes.empty() && bytes.front() == '{';
}

/// The value of `name` in the target's query string, percent-decoded
/// (Boost.URL); empty if it is not there or the target does not parse.
inline std::string query_parameter(beast::string_view target, beast::string_view name) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url)
    return {};
  auto params = url->params();
  auto it = params.find(name);
  return it == params.end() ? std::string{} : std::string{(*it).value};
}

/// The close code of a session an operator kicked (the private range).
constexpr uint16_t kicked_close_code = 4000;

/// The longest prefix of `s` within `max` bytes that does not cut a UTF-8
/// sequence (a close reason must be valid UTF-8).
inline std::string utf8_prefix(std::string s, size_t max) {
  if (s.size() <= max)
    return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
    --n;
  s.resize(n);
  return s;
}

/// The plain TCP socket under a stream (to drop a slow consumer).
inline tcp::socket& raw_socket(server_socket& s) {
  return s;
}

inline tcp::socket& raw_socket(tls_stream& s) {
  return beast::get_lowest_layer(s).socket();
}

// -- WebSocket session ---------------------------------------------------------------

/// The frame sink the connection actor holds: only a weak reference, so the
/// actor never keeps a socket alive. Called from a CAF thread.
template <class Session>
class session_sink final : public actors::frame_sink {
public:
  explicit session_sink(std::weak_ptr<Session> s) : session_(std::move(s)) {
    // nop
  }

  actors::sink_status send(std::shared_ptr<const std::string> bytes) override;
  actors::sink_status reply(const actors::server_reply& r, proto::encoding enc) override;
  void close(actors::close_cause cause) override;
  void expire_at(std::chrono::system_clock::time_point when) override;
  void describe_as(const std::string& user, bool guest, std::vector<std::string> rooms) override;

private:
  std::weak_ptr<Session> session_;
};

/// Owns one WebSocket over `Stream` (server_socket or tls_stream).
/// Everything but `enqueue` and `request_close` runs on the socket's
/// strand; those two take `mtx_`, which guards the queue and is never held
/// across I/O.
template <class Stream>
class ws_session final : public session_base,
                         public std::enable_shared_from_this<ws_session<Stream>> {
public:
  using executor_type = typename websocket::stream<Stream>::executor_type;
  using std::enable_shared_from_this<ws_session<Stream>>::shared_from_this;
  using std::enable_shared_from_this<ws_session<Stream>>::weak_from_this;

  /// `keep` is what the stream needs alive while it lives (the TLS
  /// context it was accepted with, which a reload may replace).
  template <class S>
  ws_session(S&& stream, std::shared_ptr<const void> keep, std::shared_ptr<shared_state> state,
             connection_slot slot)
    : keep_(std::move(keep)),
      ws_(std::forward<S>(stream)),
      executor_(ws_.get_executor()),
      io_executor_(static_cast<net::io_context&>(net::query(executor_, net::execution::context))
                     .get_executor()),
      state_(std::move(state)),
      slot_(std::move(slot)),
      queue_(state_->cfg.outbound) {
    id_ = std::to_string(state_->next_id.fetch_add(1) + 1);
  }

  ~ws_session() override {
    // The connection actor must go with the socket, or the actor system
    // waits for it forever at shutdown.
    if (conn_)
      conn_->stop();
    if (opened_)
      state_->websocket_closed();
    state_->remove(this);
  }

  void run(http::request<http::string_body> req) {
    stopping_ = !state_->add(shared_from_this());
    url_token_ = query_parameter(req.target(), "token");
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.handshake_timeout = state_->cfg.handshake_timeout;
    timeouts.idle_timeout = state_->cfg.idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::server, "parley-gateway");
    }));
    ws_.read_message_max(state_->cfg.max_frame_bytes);
    ws_.auto_fragment(false);
    ws_.async_accept(req, beast::bind_front_handler(&ws_session::on_accept, shared_from_this()));
  }

  void shutdown() override {
    request_close(actors::close_cause::shutting_down);
  }

  queue_depth queued() const override {
    std::lock_guard<std::mutex> guard{mtx_};
    return {queue_.frames(), queue_.bytes()};
  }

  std::optional<session_info> describe() const override {
    if (kicked_)
      return std::nullopt; // closing: no longer a connection to act on
    session_info info;
    {
      std::lock_guard<std::mutex> guard{info_mtx_};
      if (!opened_at_)
        return std::nullopt; // not upgraded yet
      info.user = user_;
      info.guest = guest_;
      info.rooms = rooms_;
      info.age_s = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::steady_clock::now() - *opened_at_)
                     .count();
    }
    info.id = id_;
    info.address = slot_.address();
    info.transport = "websocket";
    info.tls = !std::is_same_v<Stream, server_socket>;
    info.queued = queued();
    return info;
  }

  bool kick(const std::string& reason) override {
    // At once, not on the strand: the console's next list, or a second
    // kick, must not find it again while its close is under way.
    if (kicked_.exchange(true))
      return false;
    net::post(executor_, [self = shared_from_this(), reason] {
      if (self->close_requested_)
        return;
      self->kick_reason_ = reason;
      self->on_close_request(actors::close_cause::shutting_down);
    });
    return true;
  }

  /// Any thread (the connection actor's).
  void set_identity(const std::string& user, bool guest, std::vector<std::string> rooms) {
    std::lock_guard<std::mutex> guard{info_mtx_};
    user_ = user;
    guest_ = guest;
    rooms_ = std::move(rooms);
  }

  /// Any thread (the connection actor's).
  actors::sink_status enqueue(std::shared_ptr<const std::string> bytes) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (closed_ || overflowed_)
        return actors::sink_status::closed;
      auto status = queue_.push(std::move(bytes));
      if (status == actors::sink_status::overflow) {
        // The client does not read: it is closed here, once, whoever wrote
        // (frame_sink's contract).
        overflowed_ = true;
        state_->stats->slow_consumer();
        request_close(actors::close_cause::slow_consumer);
        return status;
      }
      if (status != actors::sink_status::queued || writing_)
        return status;
      writing_ = true;
    }
    if (state_->mark_ready(shared_from_this()))
      net::post(io_executor_, [state = state_] { drain_ready(*state); });
    return actors::sink_status::queued;
  }

  void start_write() override {
    // Inline when the session has no strand of its own (one I/O thread).
    net::dispatch(executor_, beast::bind_front_handler(&ws_session::do_write, shared_from_this()));
  }

  /// Any thread: closes with the code and reason the error table gives
  /// `cause`.
  void request_close(actors::close_cause cause) {
    net::post(executor_, [self = shared_from_this(), cause] { self->on_close_request(cause); });
  }

  /// Any thread: closes the session (`token_expired`) at `when`, a wall
  /// clock time (a token's `exp`), replacing an earlier deadline.
  void expire_at(std::chrono::system_clock::time_point when) {
    net::post(executor_, [weak = weak_from_this(), when] {
      auto self = weak.lock();
      if (!self || self->close_requested_)
        return;
      auto left = when - std::chrono::system_clock::now();
      if (!self->expiry_)
        self->expiry_ = std::make_unique<net::steady_timer>(self->executor_);
      self->expiry_->expires_after(
        std::max(std::chrono::steady_clock::duration::zero(),
                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(left)));
      // A weak reference: a session that closes first is not kept for it.
      self->expiry_->async_wait([weak](beast::error_code ec) {
        auto s = weak.lock();
        if (ec || !s)
          return;
        spdlog::info("session {}: its token expired", s->id_);
        s->on_close_request(actors::close_cause::token_expired);
      });
    });
  }

  /// Any thread (the connection actor's): counts and logs an error reply,
  /// each once, with its session. The server's own failures are warnings;
  /// what a client got wrong is logged at debug level.
  void error_sent(const encoded_reply& out) {
    state_->stats->error_sent(out.error);
    auto level = is_server_fault(out.error) ? spdlog::level::warn : spdlog::level::debug;
    // The ref and the reason (which may quote a room name) come from the
    // client: escaped, so they cannot forge a line.
    spdlog::log(level, "session {}: {} (ref '{}'): {}", id_, v1::ErrorCode_Name(out.error),
                runtime::printable(out.ref, 64), runtime::printable(out.reason));
  }

private:
  void on_accept(beast::error_code ec) {
    if (ec) {
      state_->stats->dropped("handshake_failed");
      spdlog::info("session {}: WebSocket handshake failed: {}", id_, ec.message());
      return;
    }
    opened_ = true;
    {
      std::lock_guard<std::mutex> guard{info_mtx_};
      opened_at_ = std::chrono::steady_clock::now();
    }
    state_->websocket_opened();
    conn_ = state_->factory(id_, std::make_shared<session_sink<ws_session>>(weak_from_this()),
                            std::move(url_token_));
    if (stopping_)
      on_close_request(actors::close_cause::shutting_down);
    do_read();
  }

  /// Reads the next message piece by piece. The first piece is one byte:
  /// a pending read prepares its whole piece in `buffer_` before any data
  /// comes, and Beast's default piece (tcp_frame_size, 1536 bytes) would
  /// sit in every idle connection. Beast reads the socket into its own
  /// frame buffer regardless, so the rest of the message (limit 0: as much
  /// as there is) comes from there without another wait.
  void do_read(size_t limit = 1) {
    ws_.async_read_some(buffer_, limit,
                        beast::bind_front_handler(&ws_session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec) {
      on_read_error(ec);
      mark_closed();
      return;
    }
    // Once our close frame is out, Beast's close operation owns the read
    // side: it waits for the read in flight to finish, then reads and
    // discards until the client's close frame. Another read from here would
    // find the frame state it left behind (in Beast 1.81, the assertion
    // `rd_remain > 0` in read_size_hint_pmd; in a release build a read of
    // garbage).
    if (close_started_)
      return;
    if (!ws_.is_message_done()) {
      do_read(0);
      return;
    }
    state_->stats->frame_in(ws_.got_text(), buffer_.size());
    if (!close_requested_ && conn_) {
      auto enc = ws_.got_text() ? proto::encoding::json : proto::encoding::binary;
      auto data = buffer_.cdata();
      conn_->deliver(std::string_view{static_cast<const char*>(data.data()), data.size()}, enc);
    }
    buffer_.consume(buffer_.size());
    // A big message's buffer is not kept for an idle connection.
    if (buffer_.capacity() > kept_read_buffer)
      buffer_.shrink_to_fit();
    do_read();
  }

  static constexpr size_t kept_read_buffer = 512;

  // Each way a read can end, logged once with the session and counted.
  void on_read_error(beast::error_code ec) {
    if (ec == websocket::error::closed || close_requested_)
      return; // the peer closed, or answered our close
    // Beast sent the close frame itself; the table names its code.
    auto closed = [&](actors::close_cause cause, const std::string& detail) {
      auto& m = close_of(cause);
      state_->stats->close_sent(static_cast<uint16_t>(m.code));
      spdlog::info("session {}: closed {} ({}): {}", id_, static_cast<uint16_t>(m.code), m.label,
                   detail);
    };
    if (ec == websocket::error::message_too_big) {
      closed(actors::close_cause::too_big,
             "a message over " + std::to_string(state_->cfg.max_frame_bytes) + " bytes");
    } else if (ec == websocket::error::bad_frame_payload) {
      closed(actors::close_cause::bad_utf8, "invalid UTF-8 in a text message");
    } else if (ec == websocket::condition::protocol_violation) {
      closed(actors::close_cause::protocol_violation, ec.message());
    } else if (ec == beast::error::timeout) {
      state_->stats->dropped("idle_timeout");
      spdlog::info("session {}: dropped: no pong within {} s", id_,
                   state_->cfg.idle_timeout.count());
    } else {
      state_->stats->dropped("reset");
      spdlog::debug("session {}: connection lost: {}", id_, ec.message());
    }
  }

  void do_write() {
    std::shared_ptr<const std::string> bytes;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (closed_ || queue_.empty()) {
        writing_ = false;
        return;
      }
      bytes = queue_.front();
    }
    ws_.text(is_json(*bytes));
    ws_.async_write(net::buffer(*bytes), [self = shared_from_this(), bytes](beast::error_code ec,
                                                                             size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    bool more = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!queue_.empty()) {
        if (auto& sent = queue_.front(); sent && !ec)
          state_->stats->frame_out(is_json(*sent), sent->size());
        queue_.pop();
      }
      if (ec)
        closed_ = true;
      more = !closed_ && !queue_.empty();
      if (!more)
        writing_ = false;
    }
    if (ec) {
      spdlog::debug("session {}: write failed: {}", id_, ec.message());
      return;
    }
    if (more)
      do_write();
    else if (close_pending_)
      do_close();
  }

  void on_close_request(actors::close_cause cause) {
    if (close_requested_)
      return;
    close_requested_ = true;
    close_cause_ = cause;
    bool writing = false;
    bool overflowed = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      writing = writing_;
      overflowed = overflowed_;
    }
    // Let queued frames (an error, say) go out first.
    if (!writing) {
      do_close();
      return;
    }
    close_pending_ = true;
    if (!overflowed)
      return;
    // A slow consumer: what waits behind the write in flight is dropped
    // (the client resumes from its last seq), nothing more is queued, and
    // the close frame follows that write. Beast writes one frame at a time,
    // so a client that reads nothing never lets the close out: after the
    // grace its TCP connection is dropped.
    {
      std::lock_guard<std::mutex> guard{mtx_};
      closed_ = true;
      queue_.drop_behind_front();
    }
    grace_ = std::make_unique<net::steady_timer>(executor_, state_->cfg.slow_consumer_grace);
    grace_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && self->close_pending_)
        self->drop_slow_consumer();
    });
  }

  void drop_slow_consumer() {
    close_pending_ = false;
    state_->stats->dropped("slow_consumer");
    spdlog::info("session {}: dropped: {} (the client read nothing for {} ms)", id_,
                 close_of(close_cause_).reason, state_->cfg.slow_consumer_grace.count());
    beast::error_code ignored;
    raw_socket(ws_.next_layer()).shutdown(tcp::socket::shutdown_both, ignored);
    raw_socket(ws_.next_layer()).close(ignored);
  }

  void do_close() {
    close_pending_ = false;
    if (grace_)
      grace_->cancel();
    if (expiry_)
      expiry_->cancel();
    if (!ws_.is_open()) {
      mark_closed();
      return;
    }
    mark_closed();
    websocket::close_reason cr;
    if (kick_reason_) {
      // An operator's kick (the admin console logged who and why).
      cr.code = kicked_close_code;
      cr.reason = utf8_prefix("kicked by an operator: " + *kick_reason_, 123);
      state_->stats->close_sent(kicked_close_code);
    } else {
      // The table keeps reasons within RFC 6455's 123 bytes.
      auto& m = close_of(close_cause_);
      cr.code = static_cast<websocket::close_code>(m.code);
      cr.reason.assign(m.reason.data(), m.reason.size());
      state_->stats->close_sent(static_cast<uint16_t>(m.code));
      spdlog::debug("session {}: closing {} ({})", id_, static_cast<uint16_t>(m.code), m.label);
    }
    close_started_ = true;
    // The close handshake is bounded by the websocket's handshake_timeout.
    ws_.async_close(cr, [self = shared_from_this()](beast::error_code ec) {
      if (ec)
        spdlog::debug("session {}: close failed: {}", self->id_, ec.message());
    });
  }

  void mark_closed() {
    std::lock_guard<std::mutex> guard{mtx_};
    closed_ = true;
  }

  /// Starts the writes of every session gathered by `mark_ready`.
  static void drain_ready(shared_state& state) {
    // One vector per I/O thread, reused: no allocation per drain.
    thread_local std::vector<std::shared_ptr<session_base>> batch;
    state.take_ready(batch);
    for (auto& s : batch)
      s->start_write();
    batch.clear();
  }

  /// Declared first, so it goes last.
  std::shared_ptr<const void> keep_;
  /// Plain: over the bare socket (with a teardown that lets the client read
  /// a 1009 or 1007: internal/server_socket.hpp), not a beast::tcp_stream:
  /// the websocket has its own timers (handshake, idle pings), and
  /// tcp_stream's two timers, its shared state and the extra layer in every
  /// pending operation cost about 1 KB per idle connection. TLS: over the
  /// HTTP session's stream, moved (its timer is off; the TLS state is the
  /// larger cost anyway).
  websocket::stream<Stream> ws_;
  /// The socket's executor (a strand when several threads run the I/O); a
  /// copy, so other threads never touch `ws_`.
  const executor_type executor_;
  /// The I/O context's own executor, for handlers that need no strand.
  const net::io_context::executor_type io_executor_;
  beast::flat_buffer buffer_;
  std::shared_ptr<shared_state> state_;
  connection_slot slot_;
  std::string id_;
  std::unique_ptr<connection_handle> conn_;
  /// The `token` query parameter, until the connection actor takes it.
  std::string url_token_;
  // Strand only.
  bool opened_ = false;
  bool stopping_ = false;
  bool close_requested_ = false;
  bool close_pending_ = false;
  bool close_started_ = false; ///< async_close issued: no more reads from us
  /// Bounds a slow consumer's last write; made only for one (a timer in
  /// every idle session would cost memory for nothing).
  std::unique_ptr<net::steady_timer> grace_;
  /// Closes the session when its token expires; made only for a session
  /// whose token has an `exp`.
  std::unique_ptr<net::steady_timer> expiry_;
  /// Why the server closes (once `close_requested_`).
  actors::close_cause close_cause_ = actors::close_cause::shutting_down;
  /// Set when an operator kicked the session: the close says so instead.
  std::optional<std::string> kick_reason_;
  /// Any thread: an operator kicked it (describe() then says nothing).
  std::atomic<bool> kicked_{false};
  // What the admin console shows; set by the connection actor.
  mutable std::mutex info_mtx_;
  std::optional<std::chrono::steady_clock::time_point> opened_at_;
  std::string user_;
  bool guest_ = false;
  std::vector<std::string> rooms_;
  // Guarded by mtx_ (the connection actor enqueues from its thread).
  mutable std::mutex mtx_;
  outbound_queue queue_;
  bool writing_ = false;
  bool closed_ = false;
  /// The queue refused a frame: the client is a slow consumer.
  bool overflowed_ = false;
};

template <class Session>
actors::sink_status session_sink<Session>::send(std::shared_ptr<const std::string> bytes) {
  if (auto s = session_.lock())
    return s->enqueue(std::move(bytes));
  return actors::sink_status::closed;
}

template <class Session>
actors::sink_status session_sink<Session>::reply(const actors::server_reply& r, proto::encoding enc) {
  auto s = session_.lock();
  if (!s)
    return actors::sink_status::closed;
  auto out = encode_reply(r, enc);
  if (out.error != v1::ERROR_CODE_UNSPECIFIED)
    s->error_sent(out);
  return s->enqueue(std::move(out.bytes));
}

template <class Session>
void session_sink<Session>::close(actors::close_cause cause) {
  if (auto s = session_.lock())
    s->request_close(cause);
}

template <class Session>
void session_sink<Session>::describe_as(const std::string& user, bool guest,
                                        std::vector<std::string> rooms) {
  if (auto s = session_.lock())
    s->set_identity(user, guest, std::move(rooms));
}

template <class Session>
void session_sink<Session>::expire_at(std::chrono::system_clock::time_point when) {
  if (auto s = session_.lock())
    s->expire_at(when);
}

} // namespace ws_detail

} // namespace parley::gateway::internal
