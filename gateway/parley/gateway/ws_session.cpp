// The WebSocket session over a plain socket (the template is in
// internal/ws_session_impl.hpp; TLS in ws_session_tls.cpp).
#include "parley/gateway/internal/ws_session_impl.hpp"

namespace parley::gateway::internal {

void start_websocket(tcp::socket socket, std::shared_ptr<shared_state> state, connection_slot slot,
                     http::request<http::string_body> req) {
  std::make_shared<ws_detail::ws_session<server_socket>>(std::move(socket), nullptr,
                                                         std::move(state), std::move(slot))
    ->run(std::move(req));
}

} // namespace parley::gateway::internal
