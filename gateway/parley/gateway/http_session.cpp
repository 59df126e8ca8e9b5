// The HTTP session (Beast only: no CAF header may be included here, for
// compile cost, and `net` would clash with caf::net).
#include "parley/gateway/session.hpp"

#include "parley/gateway/internal/http_channel.hpp"
#include "parley/gateway/internal/ws_session.hpp"
#include "parley/gateway/tls.hpp"
#include "parley/gateway/web_assets.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
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

/// The value of `name` in the target's query string, percent-decoded
/// (Boost.URL); nothing if it is not there or the target does not parse.
std::optional<std::string> query_value(beast::string_view target, beast::string_view name) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url)
    return std::nullopt;
  auto params = url->params();
  auto it = params.find(name);
  if (it == params.end())
    return std::nullopt;
  return std::string{(*it).value};
}

/// A cursor or a duration in a query: decimal digits only.
std::optional<uint64_t> parse_count(const std::string& text) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
    return std::nullopt;
  return n;
}

/// The value of cookie `name` in a Cookie header, or empty.
std::string cookie_value(beast::string_view header, beast::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    auto part = header.substr(0, semi);
    header = semi == beast::string_view::npos ? beast::string_view{} : header.substr(semi + 1);
    while (!part.empty() && part.front() == ' ')
      part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq != beast::string_view::npos && part.substr(0, eq) == name)
      return std::string{part.substr(eq + 1)};
  }
  return {};
}

/// The body of an HTTP transport's error (docs/protocol.md).
std::string json_error(const char* code, const std::string& reason) {
  return "{\"error\":\"" + std::string{code} + "\",\"reason\":"
         + boost::json::serialize(boost::json::string(reason)) + "}\n";
}

/// How a session ended, as a poll's `close` and an event stream's close
/// event carry it.
std::string close_json(const internal::channel_close& c) {
  return "{\"code\":" + std::to_string(c.code)
         + ",\"reason\":" + boost::json::serialize(boost::json::string(c.reason)) + "}";
}

/// A poll's or an event stream's frames in one response: at most this many
/// bytes (at least one frame), the rest in the next.
constexpr size_t max_batch_bytes = 256 * 1024;

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
    // A poll or an event stream that ends with its socket leaves the
    // session idle (the sweeper's clock starts).
    if (poll_ && poll_->token != 0)
      poll_->ch->detach(poll_->token);
    if (events_ && !events_->done)
      events_->ch->detach(events_->token);
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
      // A waiting poll or an event stream ends with its channel's close,
      // which the channel's own shutdown sends.
      if (!self->handed_off_ && !self->poll_ && !self->events_)
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
    // Beast checks a Content-Length against the limit as the header ends,
    // so the header is read with the larger one (a long-poll send may carry
    // a frame's worth) and on_header holds every other request to
    // --max-request-bytes.
    parser_->body_limit(std::max(state_->cfg.max_request_bytes, state_->cfg.max_frame_bytes));
    beast::get_lowest_layer(stream_).expires_after(state_->cfg.handshake_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&http_session::on_header,
                                                      shared_from_this()));
  }

  static bool is_send_target(beast::string_view target) {
    auto ch = internal::channel_path(path_of(target));
    return ch && ch->second == "send";
  }

  void on_header(beast::error_code ec, size_t) {
    if (ec)
      return on_read(ec, 0);
    if (!is_send_target(parser_->get().target())) {
      auto length = parser_->content_length();
      if (length && *length > state_->cfg.max_request_bytes)
        return on_read(http::error::body_limit, 0);
      parser_->body_limit(state_->cfg.max_request_bytes); // a chunked body
    }
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout
        || ec == net::error::operation_aborted || ec == net::error::eof
        || ec == net::error::connection_reset || ec == net::ssl::error::stream_truncated)
      return close();
    keep_alive_ = false;
    if (ec == http::error::body_limit && internal::channel_path(path_of(parser_->get().target())))
      return refuse(http::status::payload_too_large, "too_large",
                    "a body over "
                      + std::to_string(std::max(state_->cfg.max_request_bytes,
                                                state_->cfg.max_frame_bytes))
                      + " bytes (--max-frame-bytes)",
                    parser_->get().version());
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
    if (path == "/v1/sessions" || internal::channel_path(path))
      return on_channel_request(std::move(req));
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
      // The client library (client/js/src, at /parley-client/) stays the
      // compiled-in copy while the page is edited; nothing else does.
      if (path.substr(0, 15) != "/parley-client/")
        return respond(http::status::not_found, "not found\n", req.version());
    }
    if (auto* asset = find_web_asset(path)) {
      if (req.method() != http::verb::get && req.method() != http::verb::head)
        return respond(http::status::method_not_allowed, "method not allowed\n", req.version());
      return respond_asset(*asset, req.version(), req.method() == http::verb::head);
    }
    respond(http::status::not_found, "not found\n", req.version());
  }

  // -- the HTTP transports (docs/protocol.md, "Without WebSockets") ------------------

  using request = http::request<http::string_body>;

  /// An HTTP transport's error: JSON with a code (docs/protocol.md).
  void refuse(http::status status, const char* code, const std::string& reason,
              unsigned version) {
    respond(status, json_error(code, reason), version, "application/json");
  }

  void on_channel_request(request req) {
    auto version = req.version();
    auto path = std::string{path_of(req.target())};
    auto fail = [&](http::status status, const char* code, const std::string& reason) {
      refuse(status, code, reason, version);
    };
    // A page's script must come from an allowed origin, as for an upgrade
    // (clients that are not browsers send no Origin).
    auto origin = req[http::field::origin];
    if (!origin.empty() && !state_->origins.allows(origin, req[http::field::host])) {
      if (auto held = state_->origin_log.admit())
        spdlog::info("gateway: refused a session request from a page at '{}' (403){}",
                     runtime::printable(origin, 128), runtime::log_limiter::more(*held));
      return fail(http::status::forbidden, "forbidden",
                  "this page's origin may not use this gateway (--allowed-origins)");
    }
    // A page of another allowed origin reads the answers (CORS): the
    // browser asks first (OPTIONS) for the methods and headers it will use.
    cors_origin_ = std::string{origin};
    if (req.method() == http::verb::options) {
      auto res = make_response(http::status::no_content, version, "text/plain", "");
      if (!origin.empty()) {
        res->set(http::field::access_control_allow_methods, "GET, POST, DELETE");
        res->set(http::field::access_control_allow_headers,
                 "Authorization, Content-Type, X-Parley-Key, Last-Event-ID");
        res->set(http::field::access_control_max_age, "600");
      }
      return send(std::move(res));
    }
    if (path == "/v1/sessions") {
      if (req.method() != http::verb::post)
        return fail(http::status::method_not_allowed, "method_not_allowed", "POST opens a session");
      return open_channel(req);
    }
    auto where = internal::channel_path(path);
    std::string id{where->first};
    auto verb = where->second;
    auto ch = state_->find_channel(id);
    if (!ch)
      return fail(http::status::not_found, "unknown_session",
                  "no session '" + runtime::printable(id, 40) + "': open a new one");
    // The key: a header, the session's cookie, or (for an EventSource that
    // cannot send either across origins) the query.
    std::string key{req["X-Parley-Key"]};
    if (key.empty())
      key = cookie_value(req[http::field::cookie], "parley_key_" + id);
    if (key.empty() && verb == "events")
      key = query_value(req.target(), "key").value_or("");
    if (!ch->key_matches(key)) {
      state_->stats->refused("session_key");
      return fail(http::status::forbidden, "forbidden",
                  key.empty() ? "this session's key is missing (X-Parley-Key or its cookie)"
                              : "wrong key for this session");
    }
    auto method = req.method();
    if (verb.empty()) {
      if (method != http::verb::delete_)
        return fail(http::status::method_not_allowed, "method_not_allowed",
                    "DELETE closes the session");
      ch->finish();
      state_->forget_channel(id);
      auto res = make_response(http::status::no_content, version, "application/json", "");
      return send(std::move(res));
    }
    if (verb == "send") {
      if (method != http::verb::post)
        return fail(http::status::method_not_allowed, "method_not_allowed",
                    "POST a frame or an array of frames to send");
      return channel_send(*ch, req);
    }
    if (verb == "poll" || verb == "events") {
      if (method != http::verb::get)
        return fail(http::status::method_not_allowed, "method_not_allowed",
                    std::string{"GET "} + std::string{verb});
      return verb == "poll" ? channel_poll(std::move(ch), req) : channel_events(std::move(ch), req);
    }
    fail(http::status::not_found, "not_found",
         "no such request for a session: send, poll, events, or DELETE the session");
  }

  void open_channel(const request& req) {
    auto version = req.version();
    if (state_->stopping()) {
      state_->stats->refused("draining");
      return refuse(http::status::service_unavailable, "unavailable",
                    "draining: try another node", version);
    }
    // A session holds a connection slot as a WebSocket does.
    internal::connection_slot slot{state_, slot_.address()};
    if (!slot) {
      state_->stats->refused(slot.refusal);
      return refuse(http::status::service_unavailable, "unavailable",
                    "too many connections (" + slot.refusal + ")", version);
    }
    std::string token = query_value(req.target(), "token").value_or("");
    auto auth = req[http::field::authorization];
    if (token.empty() && auth.size() > 7 && beast::iequals(auth.substr(0, 7), "Bearer "))
      token = std::string{auth.substr(7)};
    auto id = internal::random_token();
    auto key = internal::random_token();
    auto ch = std::make_shared<internal::http_channel>(state_, std::move(slot), id, key, tls);
    state_->add_channel(id, ch);
    ch->start(std::move(token));
    auto ms = [](auto d) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    auto body = "{\"session\":\"" + id + "\",\"key\":\"" + key + "\",\"pollTimeoutMs\":"
                + std::to_string(ms(state_->cfg.poll_timeout)) + ",\"idleTimeoutMs\":"
                + std::to_string(ms(state_->cfg.session_idle_timeout)) + "}\n";
    auto res = make_response(http::status::created, version, "application/json", std::move(body));
    res->set(http::field::set_cookie, "parley_key_" + id + "=" + key + "; Path=/v1/sessions/" + id
                                        + "; HttpOnly; SameSite=Strict" + (tls ? "; Secure" : ""));
    res->set(http::field::cache_control, "no-store");
    send(std::move(res));
  }

  void channel_send(internal::http_channel& ch, const request& req) {
    auto version = req.version();
    auto bad = [&](const std::string& reason) {
      refuse(http::status::bad_request, "bad_request", reason, version);
    };
    auto ack = query_value(req.target(), "ack");
    if (ack) {
      auto n = parse_count(*ack);
      if (!n || !ch.ack(*n))
        return bad("ack: not the number of a frame this session sent");
    }
    boost::system::error_code ec;
    auto doc = boost::json::parse(req.body(), ec);
    if (ec)
      return bad("the body is not JSON: " + ec.message());
    // Each frame goes to the connection actor as a text message would, so
    // a frame that is no ClientFrame gets the protocol's own error reply;
    // only a body that is no frame at all is refused here, whole.
    std::vector<std::string> frames;
    if (doc.is_object()) {
      frames.push_back(boost::json::serialize(doc));
    } else if (doc.is_array()) {
      for (auto& f : doc.as_array()) {
        if (!f.is_object())
          return bad("every element of the array must be a ClientFrame object");
        frames.push_back(boost::json::serialize(f));
      }
      if (frames.empty() && !ack)
        return bad("an empty array: nothing to send (with ?ack=N it acknowledges only)");
    } else {
      return bad("expected a ClientFrame object or an array of them");
    }
    for (auto& f : frames)
      ch.deliver(f);
    respond(http::status::accepted, "{\"accepted\":" + std::to_string(frames.size()) + "}\n",
            version, "application/json");
  }

  // A long poll: answered at once when frames wait, else when the first
  // comes, the wait ends, or a newer poll takes over.
  void channel_poll(std::shared_ptr<internal::http_channel> ch, const request& req) {
    auto version = req.version();
    uint64_t cursor = 0;
    if (auto ack = query_value(req.target(), "ack")) {
      auto n = parse_count(*ack);
      if (!n || !ch->ack(*n))
        return refuse(http::status::bad_request, "bad_request",
                      "ack: not the number of a frame this session sent", version);
      cursor = *n;
    }
    auto wait = std::chrono::milliseconds{state_->cfg.poll_timeout};
    if (auto w = query_value(req.target(), "wait")) {
      auto n = parse_count(*w);
      if (!n)
        return refuse(http::status::bad_request, "bad_request",
                      "wait: milliseconds, a whole number", version);
      wait = std::min(wait, std::chrono::milliseconds{*n});
    }
    poll_ = poll_state{std::move(ch), 0, cursor, version};
    auto b = poll_->ch->take(cursor, max_batch_bytes, false);
    if (!b.frames.empty() || b.close || wait.count() == 0)
      return answer_poll(std::move(b), false);
    poll_->token = poll_->ch->attach([weak = this->weak_from_this()] {
      if (auto self = weak.lock())
        net::post(self->executor_, [self] { self->on_poll_wake(); });
    });
    // A frame may have come between the take and the attach.
    on_poll_wake();
    if (!poll_)
      return;
    if (!poll_timer_)
      poll_timer_.emplace(executor_);
    poll_timer_->expires_after(wait);
    poll_timer_->async_wait([self = shared_from_this(), token = poll_->token](beast::error_code ec) {
      if (ec || !self->poll_ || self->poll_->token != token)
        return;
      self->answer_poll(internal::http_channel::batch{{}, 0, self->poll_->cursor, std::nullopt},
                        false);
    });
  }

  void on_poll_wake() {
    if (!poll_ || poll_->token == 0)
      return;
    if (!poll_->ch->is_current(poll_->token))
      return answer_poll({{}, 0, poll_->cursor, std::nullopt}, true);
    auto b = poll_->ch->take(poll_->cursor, max_batch_bytes, false);
    if (!b.frames.empty() || b.close)
      answer_poll(std::move(b), false);
  }

  void answer_poll(internal::http_channel::batch b, bool superseded) {
    auto p = std::move(*poll_);
    poll_.reset();
    if (poll_timer_)
      poll_timer_->cancel();
    if (p.token != 0)
      p.ch->detach(p.token);
    std::string body = "{\"last\":" + std::to_string(b.last) + ",\"frames\":[";
    for (size_t i = 0; i < b.frames.size(); ++i) {
      if (i > 0)
        body += ',';
      body += *b.frames[i];
    }
    body += ']';
    if (superseded)
      body += ",\"superseded\":true";
    if (b.close)
      body += ",\"close\":" + close_json(*b.close);
    body += "}\n";
    auto res = make_response(http::status::ok, p.version, "application/json", std::move(body));
    res->set(http::field::cache_control, "no-store");
    std::function<void()> after;
    if (b.close) {
      // Told: the session is gone once the answer is out.
      after = [ch = p.ch, state = state_] {
        ch->finish();
        state->forget_channel(ch->id());
      };
    }
    send(std::move(res), false, std::move(after));
  }

  // Server-Sent Events: the socket stays with this session, which writes
  // each batch of frames as events until the channel closes, a newer
  // receiver takes over, or the client goes away.
  void channel_events(std::shared_ptr<internal::http_channel> ch, const request& req) {
    uint64_t cursor = 0;
    auto last = req["Last-Event-ID"];
    auto given = !last.empty() ? std::optional<std::string>{std::string{last}}
                               : query_value(req.target(), "lastEventId");
    if (given) {
      auto n = parse_count(*given);
      if (!n)
        return refuse(http::status::bad_request, "bad_request",
                      "Last-Event-ID: not a frame number", req.version());
      cursor = *n;
    }
    state_->stats->http_response(200);
    events_ = events_state{std::move(ch), 0, cursor};
    keep_alive_ = false;
    std::string head = "HTTP/1.1 200 OK\r\nServer: parley-gateway\r\n"
                       "Content-Type: text/event-stream\r\nCache-Control: no-store\r\n"
                       "X-Accel-Buffering: no\r\nConnection: close\r\n";
    if (!cors_origin_.empty()) // checked against --allowed-origins, without CR or LF
      head += "Access-Control-Allow-Origin: " + cors_origin_ + "\r\nVary: Origin\r\n";
    cors_origin_.clear();
    head += "\r\nretry: 1000\n\n";
    if (!events_->ch->can_resume_after(cursor)) {
      // What came after the client's last event is gone: it starts over.
      events_->ch->close_with({1008, "resume point lost: open a new session and join with "
                                     "sinceSeq"});
    } else if (cursor > 0) {
      events_->ch->ack(cursor);
    }
    events_->token = events_->ch->attach([weak = this->weak_from_this()] {
      if (auto self = weak.lock())
        net::post(self->executor_, [self] { self->pump_events(); });
    });
    write_events(std::make_shared<std::string>(std::move(head)), cursor, false);
  }

  void pump_events() {
    if (!events_ || events_->writing || events_->done)
      return;
    if (!events_->ch->is_current(events_->token))
      return end_events(); // a newer stream or poll took over
    auto b = events_->ch->take(events_->cursor, max_batch_bytes, true);
    if (b.frames.empty() && !b.close)
      return;
    auto text = std::make_shared<std::string>();
    for (size_t i = 0; i < b.frames.size(); ++i) {
      *text += "id: " + std::to_string(b.first + i) + "\ndata: ";
      *text += *b.frames[i];
      *text += "\n\n";
    }
    if (b.close)
      *text += "event: close\ndata: " + close_json(*b.close) + "\n\n";
    write_events(std::move(text), b.last, b.close.has_value());
  }

  void write_events(std::shared_ptr<std::string> text, uint64_t upto, bool last) {
    events_->writing = true;
    if (keepalive_timer_)
      keepalive_timer_->cancel();
    beast::get_lowest_layer(stream_).expires_after(state_->cfg.handshake_timeout);
    net::async_write(stream_, net::buffer(*text),
                     [self = shared_from_this(), text, upto, last](beast::error_code ec, size_t) {
                       self->on_events_written(ec, upto, last);
                     });
  }

  void on_events_written(beast::error_code ec, uint64_t upto, bool last) {
    if (!events_)
      return;
    events_->writing = false;
    if (ec)
      return end_events();
    beast::get_lowest_layer(stream_).expires_never();
    events_->cursor = upto;
    if (last) {
      events_->ch->finish();
      state_->forget_channel(events_->ch->id());
      return end_events();
    }
    if (!keepalive_timer_)
      keepalive_timer_.emplace(executor_);
    keepalive_timer_->expires_after(state_->cfg.sse_keepalive);
    // Holds the session: between writes nothing else does.
    keepalive_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || !self->events_ || self->events_->writing || self->events_->done)
        return;
      self->write_events(std::make_shared<std::string>(": keep-alive\n\n"), self->events_->cursor,
                         false);
    });
    pump_events();
  }

  void end_events() {
    if (!events_ || events_->done)
      return;
    events_->done = true;
    if (keepalive_timer_)
      keepalive_timer_->cancel();
    events_->ch->detach(events_->token);
    close();
  }

  struct poll_state {
    std::shared_ptr<internal::http_channel> ch;
    uint64_t token = 0;
    uint64_t cursor = 0;
    unsigned version = 11;
  };

  struct events_state {
    std::shared_ptr<internal::http_channel> ch;
    uint64_t token = 0;
    uint64_t cursor = 0;
    bool writing = false;
    bool done = false;
  };

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
  // `after` runs once the response is out.
  void send(std::shared_ptr<response> res, bool head_only = false,
            std::function<void()> after = nullptr) {
    state_->stats->http_response(res->result_int());
    if (!cors_origin_.empty()) {
      res->set(http::field::access_control_allow_origin, cors_origin_);
      res->set(http::field::vary, "Origin");
      cors_origin_.clear();
    }
    bool keep = keep_alive_ && res->result_int() < 500;
    res->keep_alive(keep);
    res->prepare_payload();
    if (head_only)
      res->body().clear(); // Content-Length stays that of the body
    beast::get_lowest_layer(stream_).expires_after(state_->cfg.handshake_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep,
                       after = std::move(after)](beast::error_code ec, size_t) {
                        if (!ec && after)
                          after();
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
  /// A session request's allowed Origin, for the CORS header of its answer.
  std::string cors_origin_;
  /// A long poll waiting for frames, with its timer (kept for the next).
  std::optional<poll_state> poll_;
  std::optional<net::steady_timer> poll_timer_;
  /// An event stream this session writes (the socket is its then).
  std::optional<events_state> events_;
  std::optional<net::steady_timer> keepalive_timer_;
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
