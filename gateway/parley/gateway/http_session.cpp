// The HTTP session (Beast only: no CAF header may be included here, for
// compile cost, and `net` would clash with caf::net).
#include "parley/gateway/session.hpp"

#include "parley/gateway/internal/ws_session.hpp"
#include "parley/gateway/tls.hpp"
#include "parley/gateway/web_assets.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>

namespace parley::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

/// The path of a request target, without the query.
beast::string_view path_of(beast::string_view target) {
  auto q = target.find('?');
  return q == beast::string_view::npos ? target : target.substr(0, q);
}

/// A file of the page read from `root` (--web-root), or nothing if `path`
/// names no regular file inside it. Paths that leave the folder ("..",
/// symbolic links out of it) name nothing.
std::optional<std::string> read_web_file(const std::string& root, beast::string_view path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto base = fs::canonical(root, ec);
  if (ec)
    return std::nullopt;
  std::string rel{path};
  if (rel.empty() || rel == "/")
    rel = "/index.html";
  auto file = fs::weakly_canonical(base / fs::path{rel}.relative_path(), ec);
  if (ec || !fs::is_regular_file(file, ec))
    return std::nullopt;
  auto [end, _] = std::mismatch(base.begin(), base.end(), file.begin(), file.end());
  if (end != base.end())
    return std::nullopt; // outside the folder
  std::ifstream in{file, std::ios::binary};
  std::ostringstream body;
  body << in.rdbuf();
  if (!in)
    return std::nullopt;
  return body.str();
}

/// The content type of a page file by its extension.
const char* content_type_of(beast::string_view path) {
  auto dot = path.rfind('.');
  auto ext = dot == beast::string_view::npos ? beast::string_view{} : path.substr(dot + 1);
  if (path == "/" || ext == "html")
    return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs")
    return "text/javascript; charset=utf-8";
  if (ext == "css")
    return "text/css; charset=utf-8";
  if (ext == "svg")
    return "image/svg+xml";
  if (ext == "png")
    return "image/png";
  if (ext == "ico")
    return "image/x-icon";
  if (ext == "json")
    return "application/json";
  return "text/plain; charset=utf-8";
}

// -- HTTP session ---------------------------------------------------------------------

/// Reads requests and answers them (keeping the connection for the next one
/// when the client asks to, HTTP/1.1's default), or hands the stream to a
/// ws_session. `Stream` is a beast::tcp_stream or, on a TLS port, an
/// internal::tls_stream over one.
template <class Stream>
class http_session final : public internal::session_base,
                           public std::enable_shared_from_this<http_session<Stream>> {
public:
  static constexpr bool tls = std::is_same_v<Stream, internal::tls_stream>;
  using std::enable_shared_from_this<http_session<Stream>>::shared_from_this;

  /// `buffer` holds what was read while looking for a TLS ClientHello.
  http_session(beast::tcp_stream&& stream, beast::flat_buffer&& buffer,
               std::shared_ptr<net::ssl::context> ctx,
               std::shared_ptr<internal::shared_state> state, internal::connection_slot slot)
    : tls_ctx_(std::move(ctx)),
      stream_(make_stream(std::move(stream), tls_ctx_.get())),
      executor_(stream_.get_executor()),
      buffer_(std::move(buffer)),
      state_(std::move(state)),
      slot_(std::move(slot)) {
    // nop
  }

  ~http_session() override {
    state_->remove(this);
  }

  void run() {
    // Served while draining too: /healthz then answers 503.
    state_->add(shared_from_this());
    if constexpr (tls) {
      // Within the handshake timeout the detector set.
      stream_.async_handshake(net::ssl::stream_base::server, buffer_.data(),
                              beast::bind_front_handler(&http_session::on_handshake,
                                                        shared_from_this()));
    } else {
      do_read();
    }
  }

  void shutdown() override {
    // Not stream_.get_executor(): the stream may be moved to a ws_session
    // on the strand right now.
    net::post(executor_, [self = shared_from_this()] {
      if (!self->handed_off_)
        beast::get_lowest_layer(self->stream_).cancel();
    });
  }

private:
  static Stream make_stream(beast::tcp_stream&& s, net::ssl::context* ctx) {
    if constexpr (tls)
      return Stream{std::move(s), *ctx};
    else
      return std::move(s);
  }

  void on_handshake(beast::error_code ec, size_t used) {
    if (ec) {
      state_->stats->dropped("tls_handshake_failed");
      if (auto held = state_->tls_log.admit())
        spdlog::info("gateway: TLS handshake failed: {}{}", ec.message(),
                     runtime::log_limiter::more(*held));
      return; // the socket closes with the session
    }
    buffer_.consume(used);
    do_read();
  }

  /// Reads the next request; a kept connection that stays silent for the
  /// handshake timeout is closed.
  void do_read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(state_->cfg.max_request_bytes));
    parser_->body_limit(state_->cfg.max_request_bytes);
    beast::get_lowest_layer(stream_).expires_after(state_->cfg.handshake_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout
        || ec == net::error::operation_aborted || ec == net::error::eof
        || ec == net::error::connection_reset || ec == net::ssl::error::stream_truncated)
      return close();
    keep_alive_ = false;
    if (ec)
      return respond(http::status::bad_request, "bad request: " + ec.message() + "\n", 11);
    auto req = parser_->release();
    if (!tls && state_->cfg.tls) {
      // Plain HTTP to a TLS port: say so (a browser shows it), then close.
      keep_alive_ = false;
      return respond(http::status::bad_request,
                     "this port speaks TLS: use https:// (wss:// for WebSockets)\n",
                     req.version());
    }
    // Kept for the page's assets and for scrapers, never while draining.
    keep_alive_ = req.keep_alive() && !state_->stopping();
    auto path = path_of(req.target());
    bool draining = state_->stopping();
    if (path == "/ws") {
      if (!websocket::is_upgrade(req))
        return respond(http::status::bad_request, "expected a WebSocket upgrade\n",
                       req.version());
      auto origin = req[http::field::origin];
      if (!state_->origins.allows(origin, req[http::field::host])) {
        if (auto held = state_->origin_log.admit())
          spdlog::info("gateway: refused a WebSocket from a page at '{}' (403){}",
                       runtime::printable(origin, 128), runtime::log_limiter::more(*held));
        return respond(http::status::forbidden,
                       "this page's origin may not open a WebSocket here (--allowed-origins)\n",
                       req.version());
      }
      if (draining) {
        state_->stats->refused("draining");
        return respond(http::status::service_unavailable, "draining: try another node\n",
                       req.version());
      }
      handed_off_ = true;
      if constexpr (tls) {
        internal::start_websocket(std::move(stream_), std::move(tls_ctx_), state_,
                                  std::move(slot_), std::move(req));
      } else {
        // The HTTP read's timer is done with; the socket alone moves on.
        internal::start_websocket(stream_.release_socket(), state_, std::move(slot_),
                                  std::move(req));
      }
      return;
    }
    if (websocket::is_upgrade(req)) {
      // A WebSocket client at the wrong path (the page's own "/", say)
      // gets a 404 that says where the endpoint is, not the page. The path
      // is echoed only when it is short and plain.
      bool plain = path.size() <= 64 && std::all_of(path.begin(), path.end(), [](char c) {
                     return c > ' ' && c < 0x7f;
                   });
      return respond(http::status::not_found,
                     "no WebSocket endpoint at " + (plain ? std::string{path} : "this path")
                       + ": use /ws\n",
                     req.version());
    }
    if (path == "/healthz") {
      if (req.method() != http::verb::get)
        return respond(http::status::method_not_allowed, "method not allowed\n", req.version());
      if (draining)
        return respond(http::status::service_unavailable, "draining\n", req.version());
      // The first word is what a probe reads; then what is running.
      return respond(http::status::ok, "ok " + state_->cfg.version + "\n", req.version());
    }
    if (path == "/metrics" && state_->cfg.admin.public_metrics) {
      if (req.method() != http::verb::get)
        return respond(http::status::method_not_allowed, "method not allowed\n", req.version());
      return respond(http::status::ok, state_->stats->render(), req.version(),
                     "text/plain; version=0.0.4; charset=utf-8");
    }
    if (!state_->cfg.web_root.empty()) {
      if (auto body = read_web_file(state_->cfg.web_root, path)) {
        if (req.method() != http::verb::get && req.method() != http::verb::head)
          return respond(http::status::method_not_allowed, "method not allowed\n", req.version());
        web_asset disk{path, content_type_of(path), *body};
        return respond_asset(disk, req.version(), req.method() == http::verb::head);
      }
      return respond(http::status::not_found, "not found\n", req.version());
    }
    if (auto* asset = find_web_asset(path)) {
      if (req.method() != http::verb::get && req.method() != http::verb::head)
        return respond(http::status::method_not_allowed, "method not allowed\n", req.version());
      return respond_asset(*asset, req.version(), req.method() == http::verb::head);
    }
    respond(http::status::not_found, "not found\n", req.version());
  }

  using response = http::response<http::string_body>;

  std::shared_ptr<response> make_response(http::status status, unsigned version,
                                          beast::string_view content_type, std::string body) {
    auto res = std::make_shared<response>(status, version);
    res->set(http::field::server, "parley-gateway");
    res->set(http::field::content_type, content_type);
    res->body() = std::move(body);
    return res;
  }

  // Counts and writes; then reads the next request on a kept connection,
  // or closes.
  void send(std::shared_ptr<response> res, bool head_only = false) {
    state_->stats->http_response(res->result_int());
    bool keep = keep_alive_ && res->result_int() < 500;
    res->keep_alive(keep);
    res->prepare_payload();
    if (head_only)
      res->body().clear(); // Content-Length stays that of the body
    beast::get_lowest_layer(stream_).expires_after(state_->cfg.handshake_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep](beast::error_code ec, size_t) {
                        if (!ec && keep && !self->state_->stopping())
                          self->do_read();
                        else
                          self->close();
                      });
  }

  // The chat page's files, compiled in. The page talks only to this origin.
  void respond_asset(const web_asset& asset, unsigned version, bool head_only) {
    auto res = make_response(http::status::ok, version, asset.content_type,
                             std::string{asset.body});
    res->set(http::field::cache_control, "no-cache");
    res->set("X-Content-Type-Options", "nosniff");
    res->set("Content-Security-Policy",
             "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    send(std::move(res), head_only);
  }

  void respond(http::status status, std::string body, unsigned version,
               const char* content_type = "text/plain; charset=utf-8") {
    send(make_response(status, version, content_type, std::move(body)));
  }

  void close() {
    if constexpr (tls) {
      // close_notify, bounded by the timer; the socket closes with us.
      beast::get_lowest_layer(stream_).expires_after(state_->cfg.handshake_timeout);
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
    } else {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  /// The TLS context the stream was made with (a reload may replace the
  /// listener's); null for plain. Declared first, so it goes last.
  std::shared_ptr<net::ssl::context> tls_ctx_;
  Stream stream_;
  const typename Stream::executor_type executor_;
  beast::flat_buffer buffer_;
  std::shared_ptr<internal::shared_state> state_;
  internal::connection_slot slot_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool handed_off_ = false;
  /// The request being answered asked to keep the connection.
  bool keep_alive_ = false;
};

/// On a TLS port: reads the first bytes and starts the session that speaks
/// what they are (a ClientHello, or plain HTTP that gets told to use TLS).
class tls_detector : public std::enable_shared_from_this<tls_detector> {
public:
  tls_detector(tcp::socket&& socket, std::shared_ptr<internal::shared_state> state,
               internal::connection_slot slot)
    : stream_(std::move(socket)), state_(std::move(state)), slot_(std::move(slot)) {
    // nop
  }

  void run() {
    // One timer from the first byte to the request: a socket that sends
    // nothing is dropped after the handshake timeout as on a plain port.
    stream_.expires_after(state_->cfg.handshake_timeout);
    beast::async_detect_ssl(stream_, buffer_,
                            beast::bind_front_handler(&tls_detector::on_detect,
                                                      shared_from_this()));
  }

private:
  void on_detect(beast::error_code ec, bool is_tls) {
    if (ec)
      return; // silent or gone: the socket closes with us
    if (is_tls) {
      auto ctx = state_->cfg.tls->context();
      std::make_shared<http_session<internal::tls_stream>>(std::move(stream_), std::move(buffer_),
                                                           std::move(ctx), state_,
                                                           std::move(slot_))
        ->run();
    } else {
      std::make_shared<http_session<beast::tcp_stream>>(std::move(stream_), std::move(buffer_),
                                                        nullptr, state_, std::move(slot_))
        ->run();
    }
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<internal::shared_state> state_;
  internal::connection_slot slot_;
};

} // namespace

void start_session(tcp::socket socket, std::shared_ptr<internal::shared_state> state,
                   internal::connection_slot slot) {
  if (state->cfg.tls) {
    std::make_shared<tls_detector>(std::move(socket), std::move(state), std::move(slot))->run();
    return;
  }
  std::make_shared<http_session<beast::tcp_stream>>(beast::tcp_stream{std::move(socket)},
                                                    beast::flat_buffer{}, nullptr,
                                                    std::move(state), std::move(slot))
    ->run();
}

} // namespace parley::gateway
