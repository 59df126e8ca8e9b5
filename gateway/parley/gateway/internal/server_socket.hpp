#pragma once

/// @file
/// The TCP socket under a WebSocket session, with a close that lets the
/// client read its close frame. Beast-only; private to the gateway.
///
/// When the server fails a connection (1009 for a message over the limit,
/// 1007, 1002) Beast sends the close frame and then tears the TCP connection
/// down: it shuts down its sending side and should read and discard until
/// the client closes too (RFC 6455 §7.1.1). Beast 1.81's teardown stops
/// reading after the first piece (it tests the byte count of its wait, which
/// is always 0) and closes the socket while the client is still sending: the
/// kernel then answers the unread bytes with a reset, and a client that was
/// writing a large message (Node's `ws`, say) sees EPIPE or 1006 and never
/// reads the 1009. Beast finds its teardown by argument-dependent lookup on
/// the socket type, so this socket type brings its own.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/compose.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>

#include <array>
#include <cstddef>
#include <memory>
#include <utility>

namespace parley::gateway::internal {

/// A `tcp::socket` whose WebSocket teardown drains what the client still
/// sends (see the file comment).
class server_socket : public boost::asio::ip::tcp::socket {
public:
  explicit server_socket(boost::asio::ip::tcp::socket&& s)
    : boost::asio::ip::tcp::socket(std::move(s)) {
    // nop
  }
};

/// Bytes a teardown reads and discards at most before it closes anyway. A
/// client cut off at 1009 may be in the middle of a message of several MiB;
/// time is bounded too, by the WebSocket's close timeout (the handshake
/// timeout), which closes the socket under a read that waits.
constexpr size_t max_teardown_discard = 16 * 1024 * 1024;

namespace detail {

struct teardown_op {
  boost::beast::role_type role;
  server_socket& socket;
  std::unique_ptr<std::array<char, 4096>> buf = std::make_unique<std::array<char, 4096>>();
  size_t discarded = 0;
  bool started = false;

  template <class Self>
  void operator()(Self& self, boost::beast::error_code ec = {}, size_t n = 0) {
    namespace net = boost::asio;
    if (!started) {
      started = true;
      // The server stops sending first; a peer that reads sees the end of
      // the stream after the close frame.
      if (role == boost::beast::role_type::server)
        socket.shutdown(net::ip::tcp::socket::shutdown_send, ec);
      ec = {};
    } else {
      discarded += n;
      if (ec || discarded >= max_teardown_discard) {
        if (ec == net::error::eof)
          ec = {}; // the client closed: the orderly end
        boost::beast::error_code ignored;
        if (role == boost::beast::role_type::client)
          socket.shutdown(net::ip::tcp::socket::shutdown_send, ignored);
        socket.close(ignored);
        self.complete(ec);
        return;
      }
    }
    socket.async_read_some(net::buffer(*buf), std::move(self));
  }
};

} // namespace detail

/// Beast's customisation point: found by argument-dependent lookup for
/// `websocket::stream<server_socket>`.
template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, server_socket& socket,
                    TeardownHandler&& handler) {
  boost::asio::async_compose<TeardownHandler, void(boost::beast::error_code)>(
    detail::teardown_op{role, socket}, handler, socket);
}

/// The blocking variant, for completeness (the gateway's sessions use only
/// the asynchronous one).
inline void teardown(boost::beast::role_type role, server_socket& socket,
                     boost::beast::error_code& ec) {
  namespace net = boost::asio;
  if (role == boost::beast::role_type::server)
    socket.shutdown(net::ip::tcp::socket::shutdown_send, ec);
  std::array<char, 4096> buf;
  size_t discarded = 0;
  for (;;) {
    auto n = socket.read_some(net::buffer(buf), ec);
    discarded += n;
    if (ec || discarded >= max_teardown_discard)
      break;
  }
  if (ec == net::error::eof)
    ec = {};
  boost::beast::error_code ignored;
  if (role == boost::beast::role_type::client)
    socket.shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

} // namespace parley::gateway::internal
