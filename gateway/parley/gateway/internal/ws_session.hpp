#pragma once

/// @file
/// The WebSocket session: owns the socket after the upgrade, the read loop,
/// the bounded write queue and the close handshake, and talks to its
/// connection actor through a `connection_handle` (in) and a `frame_sink`
/// (out). Beast only; private to the gateway.

#include "parley/gateway/internal/shared_state.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>

namespace parley::gateway::internal {

/// Accepts the WebSocket upgrade `req` on `socket` and serves it.
void start_websocket(boost::asio::ip::tcp::socket socket, std::shared_ptr<shared_state> state,
                     connection_slot slot,
                     boost::beast::http::request<boost::beast::http::string_body> req);

} // namespace parley::gateway::internal
