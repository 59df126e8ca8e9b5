#pragma once

/// @file
/// A WebSocket client at the byte level, on plain POSIX sockets, for tests
/// that must break the protocol on purpose: unmasked frames, invalid UTF-8,
/// half a handshake, a frame cut off mid-way, a client that never reads.
/// (A real client library refuses to send such bytes, which is why this is
/// not Beast.) Every wait is bounded by a deadline.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace parley::test {

struct raw_frame {
  uint8_t opcode = 0; ///< 0x1 text, 0x2 binary, 0x8 close, 0x9 ping, 0xA pong
  bool fin = true;
  std::string payload;

  /// For a close frame: the code (0 if none).
  uint16_t close_code() const;
};

class raw_ws {
public:
  raw_ws() = default;
  ~raw_ws();

  raw_ws(const raw_ws&) = delete;
  raw_ws& operator=(const raw_ws&) = delete;

  /// TCP connect to 127.0.0.1:`port` from `source` (any 127.x address; the
  /// gateway counts connections per source address). `rcvbuf` > 0 shrinks
  /// the receive buffer (a client that does not read fills up sooner).
  bool connect(uint16_t port, const std::string& source = "127.0.0.1", int rcvbuf = 0);

  /// Sends the HTTP upgrade for `target` (Host: 127.0.0.1:port, and
  /// `headers`, each line ending in \r\n) and reads the response head.
  /// Returns the HTTP status (101 on success, 0 if none came).
  int handshake(const std::string& target = "/ws", const std::string& headers = "");

  bool send_raw(const std::string& bytes);

  /// A client frame; masked unless `masked` is false (a protocol error).
  static std::string frame(uint8_t opcode, const std::string& payload, bool masked = true,
                           bool fin = true);

  bool send_text(const std::string& payload) {
    return send_raw(frame(0x1, payload));
  }

  /// The next frame from the server; nothing on EOF, reset or timeout
  /// (`eof()` tells which).
  std::optional<raw_frame> read_frame(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  /// Reads (and drops) until the server closes the TCP connection; true if
  /// it did within `timeout`.
  bool wait_eof(std::chrono::milliseconds timeout);

  /// The server closed the connection (EOF or reset) during the last read.
  bool eof() const {
    return eof_;
  }

  void close();

  /// The whole response to a GET of `target`, sent from `source`.
  static std::string http_get(uint16_t port, const std::string& target,
                              const std::string& source = "127.0.0.1",
                              std::chrono::milliseconds timeout = std::chrono::seconds(10));

  /// A sample's value from a Prometheus text page (`name` with its labels,
  /// exactly as printed, e.g. `parley_gateway_closes_total{code="1007"}`).
  static std::optional<double> metric(const std::string& page, const std::string& name);

private:
  /// Appends what arrives within `timeout` to `buf_`; false on EOF/timeout.
  bool fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  uint16_t port_ = 0;
  std::string buf_;
  bool eof_ = false;
};

} // namespace parley::test
