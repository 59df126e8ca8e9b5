#include "parley_bench/client.hpp"

#include "parley_bench/client_impl.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <chrono>
#include <deque>
#include <optional>

namespace parley::bench {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}



namespace {

std::string describe(const char* what, const beast::error_code& ec) {
  return std::string(what) + ": " + ec.message();
}

/// The TLS handshake where there is one; `next` right away where not.
template <class Next>
void secure_then(websocket::stream<beast::tcp_stream>&, const target&, Next&& next) {
  next(beast::error_code{});
}

template <class Next>
void secure_then(websocket::stream<client::tls_stream>& ws, const target& tgt, Next&& next) {
  client::prepare_handshake(ws.next_layer(), tgt.server_name, tgt.verify);
  ws.next_layer().async_handshake(net::ssl::stream_base::client,
                                  [next = std::forward<Next>(next)](beast::error_code ec) mutable {
                                    next(ec);
                                  });
}

} // namespace

void connection::fail(const std::string& why) {
  auto& st = *impl_;
  if (st.down)
    return;
  st.down = true;
  beast::error_code ignored;
  if (http_)
    close_http_sockets();
  else
    st.socket().close(ignored);
  if (on_down)
    on_down(*this, why);
}

void connection::start() {
  if (impl_->tgt.via != target::transport::websocket)
    return start_http();
  impl_->visit([this](auto& ws) { start_on(ws); });
}

template <class WS>
void connection::start_on(WS& ws) {
  auto self = shared_from_this();
  auto& st = *impl_;
  auto& sock = st.socket();
  beast::error_code ec;
  sock.open(tcp::v4(), ec);
  if (!ec && !st.source.empty()) {
    sock.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec)
      sock.bind(tcp::endpoint(net::ip::make_address_v4(st.source), 0), ec);
  }
  if (ec)
    return net::post(ioc_, [self, ec] { self->fail(describe("bind", ec)); });
  beast::get_lowest_layer(ws).expires_after(std::chrono::milliseconds(st.tgt.timeout_ms));
  beast::get_lowest_layer(ws).async_connect(st.tgt.endpoint, [self, &ws](beast::error_code ec) {
    if (ec)
      return self->fail(describe("connect", ec));
    self->impl_->socket().set_option(tcp::no_delay(true), ec);
    secure_then(ws, self->impl_->tgt, [self, &ws](beast::error_code ec) {
      if (ec)
        return self->fail("TLS handshake: " + client::tls_failure(ec));
      self->upgrade(ws);
    });
  });
}

template <class WS>
void connection::upgrade(WS& ws) {
  auto& st = *impl_;
  ws.binary(st.tgt.enc == proto::encoding::binary);
  ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
    req.set(beast::http::field::user_agent, "parley-bench/0.1");
  }));
  ws.async_handshake(st.tgt.host, st.tgt.path,
                     [self = shared_from_this(), &ws](beast::error_code ec) {
                       if (ec)
                         return self->fail(describe("upgrade", ec));
                       auto& st = *self->impl_;
                       beast::get_lowest_layer(ws).expires_never();
                       auto opt = websocket::stream_base::timeout::suggested(beast::role_type::client);
                       opt.handshake_timeout = std::chrono::milliseconds(st.tgt.timeout_ms);
                       ws.set_option(opt);
                       st.open = true;
                       if (self->on_open)
                         self->on_open(*self);
                       self->read_on(ws);
                     });
}

template <class WS>
void connection::read_on(WS& ws) {
  // The read loop; it holds the connection alive.
  struct reader {
    std::shared_ptr<connection> self;
    WS& ws;
    void operator()(beast::error_code ec, size_t) {
      auto& st = *self->impl_;
      if (ec) {
        // Our close ends the read (closed, or aborted when the close frame
        // went out first); the close's handler reports the end.
        if (st.close_sent
            && (ec == websocket::error::closed || ec == net::error::operation_aborted))
          return;
        if (ec == websocket::error::closed) {
          auto reason = ws.reason();
          return self->fail("closed by the server: " + std::to_string(reason.code) + " "
                            + std::string(reason.reason.data(), reason.reason.size()));
        }
        return self->fail(describe("read", ec));
      }
      auto data = st.buf.data();
      std::string_view payload(static_cast<const char*>(data.data()), data.size());
      if (ws.got_text() && self->on_text && self->on_text(*self, payload)) {
        st.buf.consume(st.buf.size());
        if (!st.down)
          ws.async_read(st.buf, std::move(*this));
        return;
      }
      auto res = proto::decode_server(payload, ws.got_text() ? proto::encoding::json
                                                             : proto::encoding::binary);
      st.buf.consume(st.buf.size());
      if (auto* frame = std::get_if<v1::ServerFrame>(&res)) {
        if (self->on_frame)
          self->on_frame(*self, *frame);
      } else {
        return self->fail("undecodable frame: " + std::get<proto::decode_error>(res).reason);
      }
      if (!st.down)
        ws.async_read(st.buf, std::move(*this));
    }
  };
  ws.async_read(impl_->buf, reader{shared_from_this(), ws});
}

void connection::send(const v1::ClientFrame& frame) {
  auto& st = *impl_;
  if (!st.open || st.closing || st.down)
    return;
  st.queue.push_back(proto::encode(frame, http_ ? proto::encoding::json : st.tgt.enc));
  pump();
}

void connection::send_encoded(std::string bytes) {
  auto& st = *impl_;
  if (!st.open || st.closing || st.down)
    return;
  st.queue.push_back(std::move(bytes));
  pump();
}

void connection::close() {
  auto& st = *impl_;
  if (!st.open || st.closing || st.down)
    return;
  st.closing = true;
  pump();
}

void connection::pump() {
  if (http_)
    return http_pump();
  impl_->visit([this](auto& ws) { pump_on(ws); });
}

template <class WS>
void connection::pump_on(WS& ws) {
  // Beast allows one write at a time, and a close counts as one: the close
  // goes out after the queued frames.
  auto& st = *impl_;
  if (st.writing || st.down)
    return;
  if (!st.queue.empty()) {
    st.writing = true;
    ws.async_write(net::buffer(st.queue.front()),
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     auto& st = *self->impl_;
                     st.writing = false;
                     if (ec)
                       return; // the read loop reports the failure
                     st.queue.pop_front();
                     self->pump();
                   });
    return;
  }
  if (st.closing && !st.close_sent) {
    st.close_sent = true;
    st.writing = true;
    ws.async_close(websocket::close_code::normal,
                   [self = shared_from_this()](beast::error_code ec) {
                     auto& st = *self->impl_;
                     st.writing = false;
                     if (st.down)
                       return;
                     st.down = true;
                     beast::error_code ignored;
                     st.socket().close(ignored);
                     if (self->on_down)
                       self->on_down(*self, ec ? describe("close", ec) : "");
                   });
  }
}

} // namespace parley::bench
