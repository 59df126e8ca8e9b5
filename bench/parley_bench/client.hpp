#pragma once

/// @file
/// One asynchronous WebSocket connection speaking parley.v1, for
/// parley-bench. Many of them share one `io_context` per thread; each lives
/// as long as a pending operation holds its `shared_from_this` (Beast's
/// rule) and runs all its callbacks on its context's thread.

#include "parley/proto/codec.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
} // namespace boost::asio::ssl

namespace parley::bench {

namespace v1 = ::parley::v1;

/// Where and how to connect; shared by every connection of a run.
struct target {
  boost::asio::ip::tcp::endpoint endpoint;
  std::string host;   ///< the Host header
  std::string path;   ///< the request target, e.g. /ws
  /// wss://: the TLS context every connection of the process shares (null
  /// for ws://), the server's name for SNI and the certificate check, and
  /// whether to check it.
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::string server_name;
  bool verify = true;
  proto::encoding enc = proto::encoding::json;
  int timeout_ms = 10'000; ///< connect + upgrade
  /// How frames travel (docs/protocol.md): a WebSocket, or a session of the
  /// HTTP transports (JSON only, plain TCP only), its frames received by
  /// long-polling or as Server-Sent Events.
  enum class transport { websocket, longpoll, sse } via = transport::websocket;
};

/// A connection. Owned by pending operations; callbacks run on the thread
/// of its io_context.
class connection : public std::enable_shared_from_this<connection> {
public:
  /// Called once the upgrade succeeded.
  std::function<void(connection&)> on_open;
  /// Called for every frame from the server.
  std::function<void(connection&, v1::ServerFrame&)> on_frame;
  /// If set, sees every JSON text frame first, undecoded; true when it
  /// handled the frame (on_frame is then not called). A mode's fast path:
  /// protobuf's JSON parser costs the client more per frame than the
  /// servers it measures spend.
  std::function<bool(connection&, std::string_view)> on_text;
  /// Called once when the connection ends: `error` is empty after a close
  /// we asked for, else one line saying what failed.
  std::function<void(connection&, const std::string& error)> on_down;

  connection(boost::asio::io_context& ioc, const target& tgt, std::string source);
  ~connection();

  /// Binds the source address (if any), connects and upgrades.
  void start();

  /// Queues a frame (one write in flight, the rest wait).
  void send(const v1::ClientFrame& frame);

  /// Queues a frame already encoded in the connection's encoding (JSON for
  /// the HTTP transports).
  void send_encoded(std::string bytes);

  /// Starts the close handshake (1000).
  void close();

  boost::asio::io_context& context() {
    return ioc_;
  }

  /// Free for the mode's bookkeeping.
  uint64_t id = 0;
  uint64_t counter = 0;
  int64_t mark_us = 0;

private:
  /// Starts the next write, or the close once the queue is empty.
  void pump();

  /// Ends the connection once with `why` (on_down).
  void fail(const std::string& why);

  // The steps, over TCP or over TLS (client.cpp).
  template <class WS>
  void start_on(WS& ws);
  template <class WS>
  void upgrade(WS& ws);
  template <class WS>
  void read_on(WS& ws);
  template <class WS>
  void pump_on(WS& ws);

  // The HTTP transports (client_http.cpp): a session opened by POST, frames
  // sent by POST on one socket, received on another.
  void start_http();
  void open_session();
  void http_receive();
  void http_read_events();
  void http_pump();
  void http_deliver(std::string_view json);
  void close_http_sockets();

  struct impl;
  struct http_state;
  std::unique_ptr<http_state> http_;
  boost::asio::io_context& ioc_;
  std::unique_ptr<impl> impl_;
};

/// Microseconds on the monotonic clock, which every process of the machine
/// shares (so workers' timestamps compare).
int64_t now_us();

} // namespace parley::bench
