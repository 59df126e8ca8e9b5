#pragma once

/// @file
/// The admin console's HTTP session (Beast only; private to the gateway):
/// JSON over HTTP for operators, behind a token (docs/deploy.md).

#include "parley/gateway/internal/shared_state.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <string>

namespace parley::gateway {

/// Serves one admin connection from `peer` (already checked against the
/// console's allowed addresses).
void start_admin_session(boost::asio::ip::tcp::socket socket, std::string peer,
                         std::shared_ptr<internal::shared_state> state);

} // namespace parley::gateway
