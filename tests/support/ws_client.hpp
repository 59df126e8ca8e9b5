#pragma once

/// @file
/// A small WebSocket and HTTP client for integration tests. Every operation
/// is bounded by a timeout, so a test that waits for something that never
/// comes fails instead of hanging. Beast lives in ws_client.cpp only; this
/// header is Beast-free.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace parley::test {

/// A WebSocket message as received.
struct ws_message {
  std::string payload;
  bool text = false;
};

/// Talks to one WebSocket on 127.0.0.1. Used from one thread.
class ws_client {
public:
  explicit ws_client(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~ws_client();

  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  /// Connects and upgrades at `target`; false on failure (see `error()`).
  bool connect(uint16_t port, const std::string& target = "/ws");

  bool send_text(const std::string& payload);
  bool send_binary(const std::string& payload);

  /// The next message; nothing on close, error or timeout.
  std::optional<ws_message> read();

  /// The close code the server sent (0 if none came).
  uint16_t close_code() const;

  /// What went wrong last.
  const std::string& error() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

struct http_reply {
  int status = 0; ///< 0: no response
  std::string body;
};

/// Sends `raw` (a whole HTTP request, possibly malformed) and reads one
/// response.
http_reply http_exchange(uint16_t port, const std::string& raw,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// GET `target` with HTTP/1.1.
http_reply http_get(uint16_t port, const std::string& target,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

} // namespace parley::test
