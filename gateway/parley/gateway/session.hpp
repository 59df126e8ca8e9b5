#pragma once

/// @file
/// Per-socket sessions (Beast only; private to the gateway): an HTTP session
/// reads one request and answers it or hands the socket to a WebSocket
/// session, which owns the socket, the read loop, the bounded write queue and
/// the close handshake, and talks to its connection actor through a
/// `connection_handle` (in) and a `frame_sink` (out).

#include "parley/gateway/internal/shared_state.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace parley::gateway {

/// Serves the socket: answers HTTP, or upgrades `/ws`. `slot` holds the
/// socket's place in the connection caps (a socket past them is answered
/// 503 and closed by the listener, never given a session).
void start_session(boost::asio::ip::tcp::socket socket,
                   std::shared_ptr<internal::shared_state> state, internal::connection_slot slot);

} // namespace parley::gateway
