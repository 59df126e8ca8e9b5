#pragma once

/// @file
/// The WebSocket session: owns the socket after the upgrade, the read loop,
/// the bounded write queue and the close handshake, and talks to its
/// connection actor through a `connection_handle` (in) and a `frame_sink`
/// (out). Beast only; private to the gateway.

#include "parley/gateway/internal/shared_state.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <memory>

namespace boost::asio::ssl {
class context;
} // namespace boost::asio::ssl

namespace parley::gateway::internal {

/// A TLS connection as the HTTP session accepted it.
using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

/// Accepts the WebSocket upgrade `req` on `socket` and serves it.
void start_websocket(boost::asio::ip::tcp::socket socket, std::shared_ptr<shared_state> state,
                     connection_slot slot,
                     boost::beast::http::request<boost::beast::http::string_body> req);

/// The same over TLS: `stream` has done its handshake with `ctx`, which the
/// session keeps alive (a reload may replace the listener's).
void start_websocket(tls_stream stream, std::shared_ptr<boost::asio::ssl::context> ctx,
                     std::shared_ptr<shared_state> state, connection_slot slot,
                     boost::beast::http::request<boost::beast::http::string_body> req);

} // namespace parley::gateway::internal
