#pragma once

// connection's state over a WebSocket (client.cpp), shared with the HTTP
// transports (client_http.cpp). Private to parley-bench.

#include "parley_bench/client.hpp"

#include "parley/client/tls.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <deque>
#include <optional>
#include <string>

namespace parley::bench {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct connection::impl {
  using plain_ws = websocket::stream<beast::tcp_stream>;
  using tls_ws = websocket::stream<client::tls_stream>;

  impl(net::io_context& ioc, const target& t, std::string src)
    : tgt(t), source(std::move(src)) {
    if (t.tls)
      secure.emplace(ioc, *t.tls);
    else
      plain.emplace(ioc);
  }

  /// Calls `f` with the WebSocket in use.
  template <class F>
  void visit(F&& f) {
    if (secure)
      f(*secure);
    else
      f(*plain);
  }

  tcp::socket& socket() {
    return secure ? beast::get_lowest_layer(*secure).socket()
                  : beast::get_lowest_layer(*plain).socket();
  }

  const target& tgt;
  std::string source;
  std::optional<plain_ws> plain;
  std::optional<tls_ws> secure;
  beast::flat_buffer buf;
  std::deque<std::string> queue;
  bool writing = false;
  bool open = false;
  bool closing = false;
  bool close_sent = false;
  bool down = false;
};

} // namespace parley::bench
