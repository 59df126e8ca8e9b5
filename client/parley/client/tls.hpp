#pragma once

/// @file
/// The client side of TLS, shared by `ws_client` (parley-cli, tests) and
/// parley-bench's asynchronous connections: one way to make the context,
/// name the server and say why a handshake failed.

#include "parley/client/ws_client.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <optional>
#include <string>

namespace parley::client {

using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

/// A client TLS context: TLS 1.2 or later, the peer checked as `opt` says.
/// Empty with `why` set if the CA file does not load.
std::optional<boost::asio::ssl::context> make_client_context(const tls_options& opt,
                                                             std::string& why);

/// Before the handshake: the name to ask for (SNI) and to check the
/// certificate against. An address is checked as an address.
void prepare_handshake(tls_stream& stream, const std::string& host, bool verify);

/// A failed TLS handshake, said for a person.
std::string tls_failure(const boost::beast::error_code& ec);

} // namespace parley::client
