// The WebSocket session over TLS (the template is in
// internal/ws_session_impl.hpp; the plain socket in ws_session.cpp).
#include "parley/gateway/internal/ws_session_impl.hpp"

#include <boost/asio/ssl/context.hpp>

namespace parley::gateway::internal {

void start_websocket(tls_stream stream, std::shared_ptr<net::ssl::context> ctx,
                     std::shared_ptr<shared_state> state, connection_slot slot,
                     http::request<http::string_body> req) {
  // The HTTP stage's timer is done with: the WebSocket has its own.
  beast::get_lowest_layer(stream).expires_never();
  std::make_shared<ws_detail::ws_session<tls_stream>>(std::move(stream), std::move(ctx),
                                                      std::move(state), std::move(slot))
    ->run(std::move(req));
}

} // namespace parley::gateway::internal
