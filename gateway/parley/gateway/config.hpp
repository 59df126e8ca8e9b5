#pragma once

/// @file
/// The gateway's settings: where it listens and the limits it enforces
/// before any frame reaches an actor. Every limit has a default that suits a
/// chat and a reason next to it.

#include "parley/gateway/admin.hpp"
#include "parley/gateway/outbound_queue.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace parley::gateway {

class tls_identity;

struct gateway_config {
  /// What is running, after "ok" in /healthz: "parley-gateway 0.1.0
  /// (commit 0123456789ab, Release)" (run() sets it from parley/version.hpp;
  /// the library does not link the build's commit, so a commit relinks the
  /// programs only).
  std::string version = "parley-gateway";
  /// Address to bind; loopback by default so nothing is exposed by accident.
  std::string address = "127.0.0.1";
  /// TCP port; 0 lets the kernel pick one (tests), `listener::port` tells it.
  uint16_t port = 8080;
  /// Threads running the Asio event loop: half the cores (at least one),
  /// the actors' scheduler takes the rest. One thread handles thousands of
  /// idle sockets; the actors do the work.
  size_t io_threads = std::max<size_t>(1, std::thread::hardware_concurrency() / 2);
  /// Whether the I/O threads also run the actors their sockets wake (the
  /// connection actor and what it wakes in turn), so a request is answered
  /// on the thread that read it. Needs the `affinity` scheduler; idle
  /// workers still take over when an I/O thread falls behind.
  bool io_runs_actors = true;
  /// Open sockets at most; further clients get HTTP 503. The machine allows
  /// ~20,000 open files per process.
  size_t max_connections = 10000;
  /// Open sockets per client IP address at most (0: no limit), so one
  /// client cannot take every slot. Clients behind one NAT share it.
  size_t max_connections_per_address = 1000;
  /// Largest WebSocket message; bigger ones are closed with 1009 by Beast
  /// before they are buffered. Matches `codec_limits::max_frame_bytes`.
  size_t max_frame_bytes = 64 * 1024;
  /// Largest HTTP request (headers and body) before the upgrade.
  size_t max_request_bytes = 8 * 1024;
  /// Web pages that may open a WebSocket (origin.hpp): origins, `*.`
  /// patterns or `*`. Empty: the gateway's own origin only. Clients that
  /// send no Origin (not browsers) are not affected.
  std::vector<std::string> allowed_origins;
  /// With a certificate (tls.hpp), the port speaks TLS only: `https://`
  /// and `wss://`; a plain HTTP request gets 400 saying so. Null: plain.
  std::shared_ptr<tls_identity> tls;
  /// The admin console: a second listener for operators (admin.hpp).
  admin_config admin;
  /// Development: serve the chat page's files from this folder (read on
  /// every request, so an edit shows on reload) instead of the copies
  /// compiled in. Empty: the compiled-in page.
  std::string web_root;
  /// Time for the HTTP request, the WebSocket handshake and the close
  /// handshake: a client that stalls there holds a socket for nothing.
  std::chrono::seconds handshake_timeout{10};
  /// A WebSocket that receives nothing this long is pinged at half of it and
  /// closed at the end (Beast's suggested server setting is 300 s).
  std::chrono::seconds idle_timeout{300};
  /// Long-polling: the longest a poll waits for a frame before it answers
  /// with none (a client may ask for less). Below the 30-60 s after which
  /// proxies commonly cut an idle response.
  std::chrono::seconds poll_timeout{25};
  /// A session of the HTTP transports with no poll waiting and no event
  /// stream open for this long is closed (its client went away).
  std::chrono::seconds session_idle_timeout{60};
  /// Server-Sent Events: a comment this often keeps proxies from closing an
  /// event stream that carries nothing.
  std::chrono::seconds sse_keepalive{15};
  /// On stop: how long open WebSockets get to finish their close handshake
  /// before the process exits anyway.
  std::chrono::seconds drain_timeout{10};
  /// Each session's write queue; a client that does not read is closed as a
  /// slow consumer when it is full (see `slow_consumer_grace`).
  outbound_queue::limits outbound;
  /// A slow consumer's queue is emptied but for the frame being written;
  /// once that write finishes the client gets close 1008. A client that
  /// reads nothing at all never lets it finish: after this long its TCP
  /// connection is dropped instead. Short, because the socket, its kernel
  /// buffers and the frame stay held meanwhile; long enough for a client
  /// that reads slowly to take the frame in flight.
  std::chrono::milliseconds slow_consumer_grace{2000};
};

} // namespace parley::gateway
