#pragma once

/// @file
/// The tests' WebSocket and HTTP client now lives in the client library
/// (client/parley/client/ws_client.hpp, target parley_client); these names
/// keep existing tests compiling unchanged.

#include "parley/client/ws_client.hpp"

namespace parley::test {

using client::http_exchange;
using client::http_get;
using client::http_reply;
using client::ws_client;
using client::ws_message;

} // namespace parley::test
