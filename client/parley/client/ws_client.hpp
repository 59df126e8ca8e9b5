#pragma once

/// @file
/// A small synchronous WebSocket and HTTP client, for tools (parley-cli,
/// parley-bench) and integration tests. Every operation is bounded by a
/// timeout, so a caller that waits for something that never comes gets an
/// error instead of hanging. Beast lives in ws_client.cpp only: this header
/// is Beast-free and cheap to include.

#include "parley/client/ws_url.hpp"

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>

namespace parley::client {

/// How a `wss://` connection checks the server.
struct tls_options {
  /// PEM file of the authorities to trust; empty: the system's (what
  /// /etc/ssl/certs holds).
  std::string ca_file;
  /// False accepts any certificate: development only (`--insecure`).
  bool verify = true;
};

/// A WebSocket message as received.
struct ws_message {
  std::string payload;
  bool text = false;
};

/// What `ws_client::read_for` found.
enum class read_status : uint8_t {
  message,     ///< a message arrived
  idle,        ///< nothing within the wait; the socket and the read stay open
  interrupted, ///< a signal named in `stop_on_signals` arrived; the socket stays open
  closed,      ///< the connection ended (see `close_code()` and `error()`)
};

/// Talks to one WebSocket. Owns its socket and its own I/O context and runs
/// it only inside its calls: use it from one thread.
class ws_client {
public:
  /// The user agent sent with the upgrade request unless one is set.
  static constexpr const char* default_user_agent = "parley-client/0.1";

  /// `timeout` bounds every single operation (connect, handshake, one write,
  /// one read, the close handshake).
  explicit ws_client(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~ws_client();

  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  /// Connects to 127.0.0.1:`port` and upgrades at `target`; false on failure
  /// (see `error()`).
  bool connect(uint16_t port, const std::string& target = "/ws");

  /// Resolves `url.host` (a name or an address), connects to the first
  /// address that answers and upgrades at `url.target`; with `wss://`,
  /// after a TLS handshake that checks the certificate and the host name
  /// (`set_tls`).
  bool connect(const ws_url& url);

  /// How wss:// checks the server; call before `connect`.
  void set_tls(tls_options options);

  /// Sets the User-Agent of the upgrade request; call before `connect`.
  void set_user_agent(std::string agent);

  /// From now on, the signals `sigs` (e.g. SIGINT, SIGTERM) interrupt a
  /// connect or a read instead of ending the process: the call returns
  /// (`read_status::interrupted`) and `interrupted()` turns true, so the
  /// caller can still close the connection cleanly.
  void stop_on_signals(std::initializer_list<int> sigs);

  /// The signal that interrupted us, or 0.
  int interrupted() const;

  bool send_text(const std::string& payload);
  bool send_binary(const std::string& payload);

  /// The next message, waiting at most the timeout; nothing on close, error,
  /// interruption or timeout (a timeout drops the connection).
  std::optional<ws_message> read();

  /// Waits at most `wait` for the next message and stores it in `out`. Unlike
  /// `read()`, running out of time is not an error: the read stays pending
  /// and the next call picks it up.
  read_status read_for(std::chrono::milliseconds wait, ws_message& out);

  /// Sends a close frame and waits (at most the timeout) for the server's;
  /// messages that arrive meanwhile are dropped. False if the connection was
  /// not open or the handshake failed; the socket is closed either way.
  bool close(uint16_t code = 1000, const std::string& reason = "");

  /// True between a successful connect and the end of the connection.
  bool is_open() const;

  /// The close code the server sent (0 if none came).
  uint16_t close_code() const;

  /// The reason the server gave with its close code.
  const std::string& close_reason() const;

  /// What went wrong last, one line.
  const std::string& error() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

struct http_reply {
  int status = 0; ///< 0: no response
  std::string body;
};

/// Sends `raw` (a whole HTTP request, possibly malformed) to 127.0.0.1:`port`
/// and reads one response.
http_reply http_exchange(uint16_t port, const std::string& raw,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// GET `target` from 127.0.0.1:`port` with HTTP/1.1.
http_reply http_get(uint16_t port, const std::string& target,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// One HTTP/1.1 request to `host`:`port` (a name or an address):
/// `method` `target` with `Authorization: authorization` when that is not
/// empty, and `body` (JSON) when that is not empty. Status 0 with the reason
/// in `body` when no answer came.
http_reply http_call(const std::string& host, uint16_t port, const std::string& method,
                     const std::string& target, const std::string& authorization = "",
                     const std::string& body = "",
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// GET `target` over TLS from 127.0.0.1:`port`, checking the certificate
/// for `host` as `tls` says; a failed handshake is status 0 with the
/// reason in `body`.
http_reply https_get(uint16_t port, const std::string& target, const tls_options& tls,
                     const std::string& host = "localhost",
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

} // namespace parley::client
