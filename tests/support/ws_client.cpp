// Beast only.
#include "support/ws_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace parley::test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

/// Runs one asynchronous operation started by `start` to completion, at most
/// `timeout`; on timeout closes `sock` and reports beast::error::timeout.
template <class Start>
beast::error_code run_bounded(net::io_context& ioc, tcp::socket& sock,
                              std::chrono::milliseconds timeout, Start start) {
  bool done = false;
  beast::error_code result;
  start([&](beast::error_code ec, auto&&...) {
    done = true;
    result = ec;
  });
  ioc.restart();
  ioc.run_for(timeout);
  if (!done) {
    beast::error_code ignored;
    sock.close(ignored);
    ioc.restart();
    ioc.run(); // let the aborted operation finish
    return beast::error::timeout;
  }
  return result;
}

tcp::endpoint loopback(uint16_t port) {
  return {net::ip::make_address("127.0.0.1"), port};
}

} // namespace

struct ws_client::impl {
  explicit impl(std::chrono::milliseconds t) : timeout(t), ws(ioc) {
    // nop
  }

  template <class Start>
  bool run(Start start) {
    auto ec = run_bounded(ioc, beast::get_lowest_layer(ws).socket(), timeout, start);
    if (ec) {
      error = ec.message();
      // The close frame counts even when answering it failed: Beast 1.81's
      // server teardown reads once and closes, so a peer that still had
      // data in flight (an oversized message) resets the connection and
      // our close reply gets EPIPE after the server's close frame arrived.
      if (ws.reason().code != websocket::close_code::none)
        closed_with = ws.reason().code;
      return false;
    }
    return true;
  }

  bool write(const std::string& payload, bool text) {
    ws.text(text);
    return run([&](auto handler) { ws.async_write(net::buffer(payload), handler); });
  }

  std::chrono::milliseconds timeout;
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buffer;
  std::string error;
  uint16_t closed_with = 0;
};

ws_client::ws_client(std::chrono::milliseconds timeout) : impl_(std::make_unique<impl>(timeout)) {
  // nop
}

ws_client::~ws_client() = default;

bool ws_client::connect(uint16_t port, const std::string& target) {
  auto& ws = impl_->ws;
  if (!impl_->run([&](auto handler) {
        beast::get_lowest_layer(ws).socket().async_connect(loopback(port), handler);
      }))
    return false;
  auto host = "127.0.0.1:" + std::to_string(port);
  return impl_->run([&](auto handler) { ws.async_handshake(host, target, handler); });
}

bool ws_client::send_text(const std::string& payload) {
  return impl_->write(payload, true);
}

bool ws_client::send_binary(const std::string& payload) {
  return impl_->write(payload, false);
}

std::optional<ws_message> ws_client::read() {
  impl_->buffer.clear();
  if (!impl_->run([&](auto handler) { impl_->ws.async_read(impl_->buffer, handler); }))
    return std::nullopt;
  return ws_message{beast::buffers_to_string(impl_->buffer.cdata()), impl_->ws.got_text()};
}

uint16_t ws_client::close_code() const {
  return impl_->closed_with;
}

const std::string& ws_client::error() const {
  return impl_->error;
}

http_reply http_exchange(uint16_t port, const std::string& raw,
                         std::chrono::milliseconds timeout) {
  net::io_context ioc;
  tcp::socket sock{ioc};
  http_reply reply;
  auto ec = run_bounded(ioc, sock, timeout,
                        [&](auto handler) { sock.async_connect(loopback(port), handler); });
  if (ec)
    return reply;
  ec = run_bounded(ioc, sock, timeout,
                   [&](auto handler) { net::async_write(sock, net::buffer(raw), handler); });
  if (ec)
    return reply;
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  ec = run_bounded(ioc, sock, timeout,
                   [&](auto handler) { http::async_read(sock, buffer, res, handler); });
  if (ec)
    return reply;
  reply.status = static_cast<int>(res.result_int());
  reply.body = res.body();
  return reply;
}

http_reply http_get(uint16_t port, const std::string& target, std::chrono::milliseconds timeout) {
  return http_exchange(port,
                       "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port)
                         + "\r\nConnection: close\r\n\r\n",
                       timeout);
}

} // namespace parley::test
