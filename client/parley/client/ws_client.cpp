// Beast only: no CAF here (compile cost), and no protobuf either. One
// client class (connect, handshake, read and write with deadlines,
// close): about 400 lines that share one stream.
#include "parley/client/ws_client.hpp"

#include "parley/client/tls.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <openssl/ssl.h>

namespace parley::client {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

enum class outcome { done, timeout, interrupted };

/// Runs `ioc` until `done()`, the deadline, or (with `stop`) until `*stop`
/// turns non-zero. Handlers of other pending operations (a read left
/// pending, a signal wait) run on the way. A deadline in the past still
/// runs what is ready.
template <class Done>
outcome run_until(net::io_context& ioc, clock_type::time_point deadline, Done done,
                  const int* stop = nullptr) {
  while (!done()) {
    if (stop && *stop != 0)
      return outcome::interrupted;
    if (ioc.stopped())
      ioc.restart();
    if (clock_type::now() >= deadline) {
      // Out of time, but whatever is ready still runs: a wait of 0 polls.
      ioc.poll();
      return done() ? outcome::done : outcome::timeout;
    }
    ioc.run_one_until(deadline);
  }
  return outcome::done;
}

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
  auto ok = run_until(ioc, clock_type::now() + timeout, [&] { return done; });
  if (ok != outcome::done) {
    beast::error_code ignored;
    sock.close(ignored);
    run_until(ioc, clock_type::time_point::max(), [&] { return done; });
    return beast::error::timeout;
  }
  return result;
}

tcp::endpoint loopback(uint16_t port) {
  return {net::ip::make_address("127.0.0.1"), port};
}

} // namespace

struct ws_client::impl {
  using plain_ws = websocket::stream<beast::tcp_stream>;
  using tls_ws = websocket::stream<tls_stream>;

  explicit impl(std::chrono::milliseconds t) : timeout(t) {
    plain.emplace(ioc);
  }

  /// Calls `f` with the WebSocket in use (over TCP or over TLS).
  template <class F>
  decltype(auto) with_ws(F&& f) {
    if (secure)
      return f(*secure);
    return f(*plain);
  }

  tcp::socket& socket() {
    return with_ws([](auto& ws) -> tcp::socket& { return beast::get_lowest_layer(ws).socket(); });
  }

  const websocket::close_reason& reason() {
    return with_ws([](auto& ws) -> const websocket::close_reason& { return ws.reason(); });
  }

  /// Runs the operation `start` begins, bounded by the timeout and (if
  /// `interruptible`) by a signal. On failure records the error; on timeout
  /// or interruption the socket is closed, since the half-done operation
  /// leaves the stream unusable, and the operation is drained. A name lookup
  /// cannot be cut short (getaddrinfo runs on its own thread), so it is
  /// cancelled and left behind: its handler only touches shared state.
  template <class Start>
  bool run(Start start, bool interruptible, const std::string& what) {
    struct op_state {
      bool done = false;
      beast::error_code ec;
    };
    auto st = std::make_shared<op_state>();
    start([st](beast::error_code e, auto&&...) {
      st->done = true;
      st->ec = e;
    });
    auto res = run_until(ioc, clock_type::now() + timeout, [&] { return st->done; },
                         interruptible ? &signal : nullptr);
    if (res != outcome::done) {
      resolver.cancel();
      abort();
      if (!resolving)
        run_until(ioc, clock_type::time_point::max(), [&] { return st->done; });
      error = res == outcome::timeout
                ? what + ": no answer within " + std::to_string(timeout.count()) + " ms"
                : what + ": interrupted by signal " + std::to_string(signal);
      return false;
    }
    if (st->ec) {
      fail(what, st->ec);
      return false;
    }
    return true;
  }

  /// Records a failed operation.
  void fail(const std::string& what, const beast::error_code& ec) {
    // The close frame counts even when answering it failed: Beast 1.81's
    // server teardown reads once and closes, so a peer that still had data
    // in flight (an oversized message) resets the connection and our close
    // reply gets EPIPE after the server's close frame arrived.
    if (reason().code != websocket::close_code::none) {
      closed_with = reason().code;
      close_reason = std::string{reason().reason.c_str()};
    }
    upgrade_declined = ec == websocket::error::upgrade_declined;
    if (ec == websocket::error::closed || closed_with != 0) {
      error = "closed by the server with " + std::to_string(closed_with);
      if (!close_reason.empty())
        error += " (" + close_reason + ")";
    } else if (ec == net::error::eof || ec == net::error::connection_reset
               || ec == net::error::broken_pipe) {
      error = what + ": the server dropped the connection (" + ec.message() + ")";
    } else {
      error = what + ": " + ec.message();
    }
    open = false;
  }

  /// Drops the connection: every pending operation completes with an error.
  void abort() {
    beast::error_code ignored;
    socket().close(ignored);
    open = false;
  }

  bool write(const std::string& payload, bool text) {
    if (!open) {
      error = "send: not connected";
      return false;
    }
    return with_ws([&](auto& ws) {
      ws.text(text);
      return run([&](auto handler) { ws.async_write(net::buffer(payload), handler); }, false,
                 "send");
    });
  }

  /// Starts a read unless one is pending. Its result waits in read_done.
  void start_read() {
    if (reading)
      return;
    reading = true;
    read_done = false;
    buffer.clear();
    with_ws([this](auto& ws) {
      ws.async_read(buffer, [this](beast::error_code ec, size_t) {
        read_done = true;
        read_ec = ec;
      });
    });
  }

  /// Takes the finished read; false if it failed.
  bool take_read(ws_message& out) {
    reading = false;
    if (read_ec) {
      fail("read", read_ec);
      return false;
    }
    out.payload = beast::buffers_to_string(buffer.cdata());
    out.text = with_ws([](auto& ws) { return ws.got_text(); });
    return true;
  }

  std::chrono::milliseconds timeout;
  net::io_context ioc;
  tcp::resolver resolver{ioc};
  bool resolving = false;
  tls_options tls;
  /// Made for each wss:// connect (before `secure`, which refers to it).
  std::optional<net::ssl::context> tls_ctx;
  /// One of the two is set: ws:// or wss://.
  std::optional<plain_ws> plain;
  std::optional<tls_ws> secure;
  std::optional<net::signal_set> signals;
  int signal = 0;
  std::string user_agent = default_user_agent;
  bool open = false;
  bool upgrade_declined = false; // the last failure was an HTTP answer other than 101
  // The read in flight: at most one, possibly left over from read_for.
  bool reading = false;
  bool read_done = false;
  beast::error_code read_ec;
  beast::flat_buffer buffer;
  std::string error;
  uint16_t closed_with = 0;
  std::string close_reason;
};

ws_client::ws_client(std::chrono::milliseconds timeout) : impl_(std::make_unique<impl>(timeout)) {
  // nop
}

ws_client::~ws_client() = default;

bool ws_client::connect(uint16_t port, const std::string& target) {
  return connect(ws_url{"127.0.0.1", port, target});
}

bool ws_client::connect(const ws_url& url) {
  auto& d = *impl_;
  if (d.open) {
    d.error = "connect: already connected";
    return false;
  }
  d.secure.reset();
  d.plain.reset();
  if (url.tls) {
    d.tls_ctx = make_client_context(d.tls, d.error);
    if (!d.tls_ctx) {
      d.plain.emplace(d.ioc);
      return false;
    }
    d.secure.emplace(d.ioc, *d.tls_ctx);
  } else {
    d.plain.emplace(d.ioc);
  }
  auto endpoints = std::make_shared<tcp::resolver::results_type>();
  auto where = url.authority();
  d.resolving = true;
  auto resolved = d.run(
    [&](auto handler) {
      d.resolver.async_resolve(url.host, std::to_string(url.port),
                               [endpoints, handler](beast::error_code ec,
                                                    tcp::resolver::results_type r) mutable {
                                 *endpoints = std::move(r);
                                 handler(ec);
                               });
    },
    true, "resolve " + url.host);
  d.resolving = false;
  if (!resolved)
    return false;
  if (!d.run(
        [&](auto handler) {
          d.with_ws(
            [&](auto& ws) { beast::get_lowest_layer(ws).async_connect(*endpoints, handler); });
        },
        true, "connect to " + where))
    return false;
  // Requests are small and each waits for its reply: Nagle would hold one
  // back until the previous segment is acknowledged (up to 40 ms).
  beast::error_code ignored;
  d.socket().set_option(tcp::no_delay(true), ignored);
  if (d.secure) {
    auto& tls = d.secure->next_layer();
    prepare_handshake(tls, url.host, d.tls.verify);
    beast::error_code failed;
    if (!d.run(
          [&](auto handler) {
            tls.async_handshake(net::ssl::stream_base::client, [&failed, handler](
                                                                  beast::error_code ec) mutable {
              failed = ec;
              handler(ec);
            });
          },
          true, "TLS handshake with " + where)) {
      if (failed)
        d.error = "TLS handshake with " + where + ": " + tls_failure(failed);
      return false;
    }
  }
  d.with_ws([&](auto& ws) {
    ws.set_option(websocket::stream_base::decorator(
      [agent = d.user_agent](websocket::request_type& req) {
        req.set(http::field::user_agent, agent);
      }));
  });
  websocket::response_type res;
  if (!d.run(
        [&](auto handler) {
          d.with_ws([&](auto& ws) {
            ws.async_handshake(res, url.authority(), url.target, handler);
          });
        },
        true, "upgrade at " + url.str())) {
    // Say why the server refused, when it answered at all.
    if (d.upgrade_declined) {
      d.error = "upgrade at " + url.str() + ": the server answered HTTP "
                + std::to_string(res.result_int()) + " " + std::string{res.reason()};
      // Its first line says why (the gateway's do); a short one is kept.
      auto body = res.body().substr(0, res.body().find('\n'));
      if (!body.empty() && body.size() <= 200)
        d.error += " (" + body + ")";
      if (url.target != "/ws" && url.target.rfind("/ws?", 0) != 0)
        d.error += "; a Parley gateway's WebSocket endpoint is /ws, as in "
                   + std::string{url.tls ? "wss://" : "ws://"} + url.authority() + "/ws";
    }
    return false;
  }
  d.open = true;
  d.closed_with = 0;
  d.close_reason.clear();
  return true;
}

void ws_client::set_tls(tls_options options) {
  impl_->tls = std::move(options);
}

void ws_client::set_user_agent(std::string agent) {
  impl_->user_agent = std::move(agent);
}

void ws_client::stop_on_signals(std::initializer_list<int> sigs) {
  auto& d = *impl_;
  if (!d.signals)
    d.signals.emplace(d.ioc);
  for (auto sig : sigs)
    d.signals->add(sig);
  d.signals->cancel();
  d.signals->async_wait([&d](beast::error_code ec, int sig) {
    if (!ec)
      d.signal = sig;
  });
}

int ws_client::interrupted() const {
  return impl_->signal;
}

bool ws_client::send_text(const std::string& payload) {
  return impl_->write(payload, true);
}

bool ws_client::send_binary(const std::string& payload) {
  return impl_->write(payload, false);
}

std::optional<ws_message> ws_client::read() {
  ws_message msg;
  switch (read_for(impl_->timeout, msg)) {
    case read_status::message:
      return msg;
    case read_status::idle:
      impl_->abort();
      run_until(impl_->ioc, clock_type::time_point::max(), [this] { return impl_->read_done; });
      impl_->reading = false;
      impl_->error = "read: no message within " + std::to_string(impl_->timeout.count()) + " ms";
      return std::nullopt;
    case read_status::interrupted:
    case read_status::closed:
      return std::nullopt;
  }
  return std::nullopt;
}

read_status ws_client::read_for(std::chrono::milliseconds wait, ws_message& out) {
  auto& d = *impl_;
  if (!d.open && !d.reading) {
    if (d.error.empty())
      d.error = "read: not connected";
    return read_status::closed;
  }
  d.start_read();
  auto res = run_until(d.ioc, clock_type::now() + wait, [&] { return d.read_done; }, &d.signal);
  if (res == outcome::interrupted) {
    d.error = "read: interrupted by signal " + std::to_string(d.signal);
    return read_status::interrupted;
  }
  if (res == outcome::timeout)
    return read_status::idle;
  return d.take_read(out) ? read_status::message : read_status::closed;
}

bool ws_client::close(uint16_t code, const std::string& reason) {
  auto& d = *impl_;
  if (!d.open) {
    d.abort();
    if (d.reading)
      run_until(d.ioc, clock_type::time_point::max(), [&] { return d.read_done; });
    d.reading = false;
    return false;
  }
  websocket::close_reason why{static_cast<websocket::close_code>(code), reason};
  // A pending read receives the server's close frame; close waits for it.
  auto ok = d.run([&](auto handler) { d.with_ws([&](auto& ws) { ws.async_close(why, handler); }); },
                  false, "close");
  if (d.reading) {
    if (!ok)
      d.abort();
    run_until(d.ioc, clock_type::time_point::max(), [&] { return d.read_done; });
    d.reading = false;
  }
  d.abort();
  if (ok) {
    d.closed_with = d.reason().code;
    d.close_reason = std::string{d.reason().reason.c_str()};
  }
  return ok;
}

bool ws_client::is_open() const {
  return impl_->open;
}

uint16_t ws_client::close_code() const {
  return impl_->closed_with;
}

const std::string& ws_client::close_reason() const {
  return impl_->close_reason;
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

/// Writes `req` on `stream` (over `sock`) and reads the response, each
/// step within `timeout`; a failed step is status 0 with the reason.
template <class Stream, class Request>
http_reply write_and_read(net::io_context& ioc, tcp::socket& sock, Stream& stream, Request& req,
                    std::chrono::milliseconds timeout) {
  http_reply reply;
  auto ec = run_bounded(ioc, sock, timeout,
                        [&](auto handler) { http::async_write(stream, req, handler); });
  if (ec) {
    reply.body = "write: " + ec.message();
    return reply;
  }
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  ec = run_bounded(ioc, sock, timeout,
                   [&](auto handler) { http::async_read(stream, buffer, res, handler); });
  if (ec) {
    reply.body = "read: " + ec.message();
    return reply;
  }
  reply.status = static_cast<int>(res.result_int());
  reply.body = res.body();
  return reply;
}

http_reply https_get(uint16_t port, const std::string& target, const tls_options& tls,
                     const std::string& host, std::chrono::milliseconds timeout) {
  http_reply reply;
  auto ctx = make_client_context(tls, reply.body);
  if (!ctx)
    return reply;
  net::io_context ioc;
  tls_stream stream{ioc, *ctx};
  auto& sock = beast::get_lowest_layer(stream).socket();
  auto ec = run_bounded(ioc, sock, timeout, [&](auto handler) {
    beast::get_lowest_layer(stream).async_connect(loopback(port), handler);
  });
  if (ec) {
    reply.body = "connect: " + ec.message();
    return reply;
  }
  prepare_handshake(stream, host, tls.verify);
  ec = run_bounded(ioc, sock, timeout, [&](auto handler) {
    stream.async_handshake(net::ssl::stream_base::client, handler);
  });
  if (ec) {
    reply.body = "TLS handshake: " + tls_failure(ec);
    return reply;
  }
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host + ":" + std::to_string(port));
  req.set(http::field::connection, "close");
  return write_and_read(ioc, sock, stream, req, timeout);
}

http_reply http_call(const std::string& host, uint16_t port, const std::string& method,
                     const std::string& target, const std::string& authorization,
                     const std::string& body, std::chrono::milliseconds timeout) {
  http_reply reply;
  net::io_context ioc;
  tcp::socket sock{ioc};
  tcp::resolver resolver{ioc};
  beast::error_code ec;
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) {
    reply.body = "resolve " + host + ": " + ec.message();
    return reply;
  }
  ec = run_bounded(ioc, sock, timeout,
                   [&](auto handler) { net::async_connect(sock, endpoints, handler); });
  if (ec) {
    reply.body = "connect to " + host + ":" + std::to_string(port) + ": " + ec.message();
    return reply;
  }
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host + ":" + std::to_string(port));
  req.set(http::field::user_agent, ws_client::default_user_agent);
  req.set(http::field::connection, "close");
  if (!authorization.empty())
    req.set(http::field::authorization, authorization);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  return write_and_read(ioc, sock, sock, req, timeout);
}

} // namespace parley::client
