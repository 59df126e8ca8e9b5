#include "parley_bench/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <deque>

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

struct connection::impl {
  impl(net::io_context& ioc, const target& t, std::string src)
    : tgt(t), source(std::move(src)), ws(ioc) {
    // nop
  }

  const target& tgt;
  std::string source;
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buf;
  std::deque<std::string> queue;
  bool writing = false;
  bool open = false;
  bool closing = false;
  bool close_sent = false;
  bool down = false;
};

connection::connection(net::io_context& ioc, const target& tgt, std::string source)
  : ioc_(ioc), impl_(std::make_unique<impl>(ioc, tgt, std::move(source))) {
  // nop
}

connection::~connection() = default;

namespace {

std::string describe(const char* what, const beast::error_code& ec) {
  return std::string(what) + ": " + ec.message();
}

} // namespace

void connection::start() {
  auto self = shared_from_this();
  auto fail = [self](const std::string& why) {
    if (self->impl_->down)
      return;
    self->impl_->down = true;
    beast::error_code ignored;
    beast::get_lowest_layer(self->impl_->ws).socket().close(ignored);
    if (self->on_down)
      self->on_down(*self, why);
  };
  auto& st = *impl_;
  auto& sock = beast::get_lowest_layer(st.ws).socket();
  beast::error_code ec;
  sock.open(tcp::v4(), ec);
  if (!ec && !st.source.empty()) {
    sock.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec)
      sock.bind(tcp::endpoint(net::ip::make_address_v4(st.source), 0), ec);
  }
  if (ec)
    return net::post(ioc_, [fail, ec] { fail(describe("bind", ec)); });
  beast::get_lowest_layer(st.ws).expires_after(std::chrono::milliseconds(st.tgt.timeout_ms));
  beast::get_lowest_layer(st.ws).async_connect(st.tgt.endpoint, [self, fail](beast::error_code ec) {
    if (ec)
      return fail(describe("connect", ec));
    auto& st = *self->impl_;
    st.ws.next_layer().socket().set_option(tcp::no_delay(true), ec);
    st.ws.binary(st.tgt.enc == proto::encoding::binary);
    st.ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, "parley-bench/0.1");
    }));
    st.ws.async_handshake(st.tgt.host, st.tgt.path, [self, fail](beast::error_code ec) {
      if (ec)
        return fail(describe("upgrade", ec));
      auto& st = *self->impl_;
      beast::get_lowest_layer(st.ws).expires_never();
      auto opt = websocket::stream_base::timeout::suggested(beast::role_type::client);
      opt.handshake_timeout = std::chrono::milliseconds(st.tgt.timeout_ms);
      st.ws.set_option(opt);
      st.open = true;
      if (self->on_open)
        self->on_open(*self);
      // The read loop; it holds the connection alive.
      struct reader {
        std::shared_ptr<connection> self;
        std::function<void(const std::string&)> fail;
        void operator()(beast::error_code ec, size_t) {
          auto& st = *self->impl_;
          if (ec) {
            // Our close ends the read (closed, or aborted when the close
            // frame went out first); the close's handler reports the end.
            if (st.close_sent
                && (ec == websocket::error::closed || ec == net::error::operation_aborted))
              return;
            if (ec == websocket::error::closed) {
              auto reason = st.ws.reason();
              return fail("closed by the server: " + std::to_string(reason.code) + " "
                          + std::string(reason.reason.data(), reason.reason.size()));
            }
            return fail(describe("read", ec));
          }
          auto data = st.buf.data();
          std::string_view payload(static_cast<const char*>(data.data()), data.size());
          auto res = proto::decode_server(payload, st.ws.got_text() ? proto::encoding::json
                                                                    : proto::encoding::binary);
          st.buf.consume(st.buf.size());
          if (auto* frame = std::get_if<v1::ServerFrame>(&res)) {
            if (self->on_frame)
              self->on_frame(*self, *frame);
          } else {
            return fail("undecodable frame: " + std::get<proto::decode_error>(res).reason);
          }
          if (!st.down)
            st.ws.async_read(st.buf, std::move(*this));
        }
      };
      st.ws.async_read(st.buf, reader{self, fail});
    });
  });
}

void connection::send(const v1::ClientFrame& frame) {
  auto& st = *impl_;
  if (!st.open || st.closing || st.down)
    return;
  st.queue.push_back(proto::encode(frame, st.tgt.enc));
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
  // Beast allows one write at a time, and a close counts as one: the close
  // goes out after the queued frames.
  auto& st = *impl_;
  if (st.writing || st.down)
    return;
  if (!st.queue.empty()) {
    st.writing = true;
    st.ws.async_write(net::buffer(st.queue.front()),
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
    st.ws.async_close(websocket::close_code::normal,
                      [self = shared_from_this()](beast::error_code ec) {
                        auto& st = *self->impl_;
                        st.writing = false;
                        if (st.down)
                          return;
                        st.down = true;
                        beast::error_code ignored;
                        beast::get_lowest_layer(st.ws).socket().close(ignored);
                        if (self->on_down)
                          self->on_down(*self, ec ? describe("close", ec) : "");
                      });
  }
}

} // namespace parley::bench
