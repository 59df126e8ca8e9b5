// parley-bench over the HTTP transports (docs/protocol.md, "Without
// WebSockets"): a session opened with POST /v1/sessions, frames sent by POST
// on one kept-alive socket (everything queued since the last POST in one
// array), frames received on a second socket by long-polling or as
// Server-Sent Events. Plain TCP and JSON only.
#include "parley_bench/client.hpp"

#include "parley_bench/client_impl.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include <string_view>

namespace parley::bench {

namespace http = beast::http;

struct connection::http_state {
  explicit http_state(net::io_context& ioc) : recv(ioc), send(ioc) {
    // nop
  }
  beast::tcp_stream recv; ///< polls or the event stream
  beast::tcp_stream send; ///< session requests and sends
  beast::flat_buffer recv_buf;
  beast::flat_buffer send_buf;
  std::string session;
  std::string key;
  uint64_t ack = 0;
  bool sending = false;
  http::request<http::string_body> send_req;
  http::response<http::string_body> send_res;
  http::request<http::string_body> poll_req;
  http::response<http::string_body> poll_res;
  std::string events; ///< the event stream's unparsed bytes
  bool events_started = false;

  /// One request on the `send` socket (the session's key on it once there
  /// is one, and `body` as JSON when not empty), then its answer in
  /// `send_res`; `done(ec)` with the first error. `done` holds the
  /// connection (and with it this state) alive.
  template <class Done>
  void exchange(const target& tgt, http::verb verb, std::string path, std::string body,
                Done done) {
    send_req = {verb, std::move(path), 11};
    send_req.set(http::field::host, tgt.host);
    send_req.set(http::field::user_agent, "parley-bench/0.1");
    if (!key.empty())
      send_req.set("X-Parley-Key", key);
    if (!body.empty()) {
      send_req.set(http::field::content_type, "application/json");
      send_req.body() = std::move(body);
    }
    send_req.prepare_payload();
    http::async_write(send, send_req, [this, done = std::move(done)](beast::error_code ec,
                                                                      size_t) mutable {
      if (ec)
        return done(ec);
      send_res = {};
      http::async_read(send, send_buf, send_res,
                       [done = std::move(done)](beast::error_code ec, size_t) mutable { done(ec); });
    });
  }
};

// Here, where http_state is complete.
connection::connection(net::io_context& ioc, const target& tgt, std::string source)
  : ioc_(ioc), impl_(std::make_unique<impl>(ioc, tgt, std::move(source))) {
  // nop
}

connection::~connection() = default;

namespace {

/// The string value of `"name":"..."` in a flat JSON object (ids, keys).
std::string json_string(std::string_view body, std::string_view name) {
  auto at = body.find("\"" + std::string{name} + "\":\"");
  if (at == std::string_view::npos)
    return {};
  at += name.size() + 4;
  auto end = body.find('"', at);
  return end == std::string_view::npos ? std::string{} : std::string{body.substr(at, end - at)};
}

/// Calls `f` with each element of the JSON array that starts at `at` (an
/// array of objects: the server's frames), by depth, minding strings.
template <class F>
size_t each_element(std::string_view s, size_t at, F&& f) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  size_t start = 0;
  for (size_t i = at; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth == 2)
        start = i;
    } else if (c == ']' || c == '}') {
      if (depth-- == 2)
        f(s.substr(start, i + 1 - start));
      if (depth == 0)
        return i + 1;
    }
  }
  return s.size();
}

std::string describe(const char* what, const beast::error_code& ec) {
  return std::string(what) + ": " + ec.message();
}

} // namespace

void connection::close_http_sockets() {
  beast::error_code ignored;
  http_->recv.socket().close(ignored);
  http_->send.socket().close(ignored);
}

void connection::start_http() {
  http_ = std::make_unique<http_state>(ioc_);
  auto self = shared_from_this();
  auto& st = *impl_;
  // Both sockets from the source address (its per-address share).
  for (auto* s : {&http_->recv, &http_->send}) {
    beast::error_code ec;
    s->socket().open(tcp::v4(), ec);
    if (!ec && !st.source.empty()) {
      s->socket().set_option(net::socket_base::reuse_address(true), ec);
      if (!ec)
        s->socket().bind(tcp::endpoint(net::ip::make_address_v4(st.source), 0), ec);
    }
    if (ec)
      return net::post(ioc_, [self, ec] { self->fail(describe("bind", ec)); });
  }
  http_->send.expires_after(std::chrono::milliseconds(st.tgt.timeout_ms));
  http_->send.async_connect(st.tgt.endpoint, [self](beast::error_code ec) {
    if (ec)
      return self->fail(describe("connect", ec));
    self->http_->send.socket().set_option(tcp::no_delay(true), ec);
    self->open_session();
  });
}

void connection::open_session() {
  auto& h = *http_;
  auto self = shared_from_this();
  h.exchange(impl_->tgt, http::verb::post, "/v1/sessions", {}, [self](beast::error_code ec) {
    auto& h = *self->http_;
    if (ec)
      return self->fail(describe("open a session", ec));
    if (h.send_res.result_int() != 201)
      return self->fail("open a session: HTTP " + std::to_string(h.send_res.result_int()) + " "
                        + h.send_res.body());
    h.session = json_string(h.send_res.body(), "session");
    h.key = json_string(h.send_res.body(), "key");
    if (h.session.empty() || h.key.empty())
      return self->fail("open a session: no id or key in " + h.send_res.body());
    h.send.expires_never();
    h.recv.expires_after(std::chrono::milliseconds(self->impl_->tgt.timeout_ms));
    h.recv.async_connect(self->impl_->tgt.endpoint, [self](beast::error_code ec) {
      if (ec)
        return self->fail(describe("connect", ec));
      self->http_->recv.socket().set_option(tcp::no_delay(true), ec);
      self->http_->recv.expires_never();
      auto& st = *self->impl_;
      st.open = true;
      if (self->on_open)
        self->on_open(*self);
      self->http_receive();
      self->http_pump();
    });
  });
}

void connection::http_deliver(std::string_view json) {
  if (on_text && on_text(*this, json))
    return;
  auto res = proto::decode_server(json, proto::encoding::json);
  if (auto* frame = std::get_if<v1::ServerFrame>(&res)) {
    if (on_frame)
      on_frame(*this, *frame);
  } else {
    fail("undecodable frame: " + std::get<proto::decode_error>(res).reason);
  }
}

void connection::http_receive() {
  auto& h = *http_;
  auto& st = *impl_;
  if (st.down)
    return;
  auto base = "/v1/sessions/" + h.session;
  if (st.tgt.via == target::transport::sse) {
    auto req = std::make_shared<std::string>("GET " + base + "/events HTTP/1.1\r\nHost: "
                                             + st.tgt.host + "\r\nX-Parley-Key: " + h.key
                                             + "\r\nAccept: text/event-stream\r\n\r\n");
    net::async_write(h.recv, net::buffer(*req),
                     [self = shared_from_this(), req](beast::error_code ec, size_t) {
                       if (ec)
                         return self->fail(describe("open the event stream", ec));
                       self->http_read_events();
                     });
    return;
  }
  h.poll_req = {http::verb::get, base + "/poll?ack=" + std::to_string(h.ack), 11};
  h.poll_req.set(http::field::host, st.tgt.host);
  h.poll_req.set("X-Parley-Key", h.key);
  auto self = shared_from_this();
  http::async_write(h.recv, h.poll_req, [self](beast::error_code ec, size_t) {
    if (ec)
      return self->fail(describe("poll", ec));
    auto& h = *self->http_;
    h.poll_res = {};
    http::async_read(h.recv, h.recv_buf, h.poll_res, [self](beast::error_code ec, size_t) {
      auto& h = *self->http_;
      auto& st = *self->impl_;
      if (st.down)
        return;
      if (ec)
        return self->fail(describe("poll", ec));
      if (h.poll_res.result_int() != 200)
        return self->fail("poll: HTTP " + std::to_string(h.poll_res.result_int()) + " "
                          + h.poll_res.body());
      std::string_view body = h.poll_res.body();
      auto frames = body.find("\"frames\":[");
      if (frames == std::string_view::npos)
        return self->fail("poll: no frames in " + h.poll_res.body());
      auto after = each_element(body, frames + 9, [&](std::string_view f) {
        if (!st.down)
          self->http_deliver(f);
      });
      if (st.down)
        return;
      if (auto last = body.find("\"last\":"); last != std::string_view::npos)
        h.ack = std::strtoull(body.data() + last + 7, nullptr, 10);
      if (body.find("\"close\":", after) != std::string_view::npos)
        return self->fail("closed by the server: " + h.poll_res.body());
      self->http_receive();
    });
  });
}

void connection::http_read_events() {
  auto& h = *http_;
  h.recv.async_read_some(h.recv_buf.prepare(64 * 1024), [self = shared_from_this()](
                                                           beast::error_code ec, size_t n) {
    auto& h = *self->http_;
    auto& st = *self->impl_;
    if (st.down)
      return;
    if (ec)
      return self->fail(describe("event stream", ec));
    h.recv_buf.commit(n);
    auto data = h.recv_buf.cdata();
    h.events.append(static_cast<const char*>(data.data()), data.size());
    h.recv_buf.consume(n);
    size_t from = 0;
    if (!h.events_started) {
      auto head = h.events.find("\r\n\r\n");
      if (head == std::string::npos)
        return self->http_read_events();
      if (h.events.compare(0, 12, "HTTP/1.1 200") != 0)
        return self->fail("event stream: " + h.events.substr(0, h.events.find("\r\n")));
      h.events_started = true;
      from = head + 4;
    }
    // Events end with a blank line; each of ours is "id: N\ndata: JSON".
    for (;;) {
      auto end = h.events.find("\n\n", from);
      if (end == std::string::npos)
        break;
      std::string_view ev{h.events.data() + from, end - from};
      from = end + 2;
      if (ev.substr(0, 12) == "event: close")
        return self->fail("closed by the server: " + std::string{ev});
      auto data_at = ev.find("data: ");
      if (data_at != std::string_view::npos)
        self->http_deliver(ev.substr(data_at + 6));
      if (st.down)
        return;
    }
    h.events.erase(0, from);
    self->http_read_events();
  });
}

void connection::http_pump() {
  auto& h = *http_;
  auto& st = *impl_;
  if (h.sending || st.down || h.session.empty())
    return;
  if (!st.queue.empty()) {
    std::string body = "[";
    for (auto& f : st.queue) {
      if (body.size() > 1)
        body += ',';
      body += f;
    }
    body += ']';
    st.queue.clear();
    h.sending = true;
    h.exchange(st.tgt, http::verb::post, "/v1/sessions/" + h.session + "/send", std::move(body),
               [self = shared_from_this()](beast::error_code ec) {
                 auto& h = *self->http_;
                 h.sending = false;
                 if (self->impl_->down)
                   return;
                 if (ec)
                   return self->fail(describe("send", ec));
                 if (h.send_res.result_int() != 202)
                   return self->fail("send: HTTP " + std::to_string(h.send_res.result_int()) + " "
                                     + h.send_res.body());
                 self->http_pump();
               });
    return;
  }
  if (st.closing && !st.close_sent) {
    st.close_sent = true;
    h.sending = true;
    h.exchange(st.tgt, http::verb::delete_, "/v1/sessions/" + h.session, {},
               [self = shared_from_this()](beast::error_code ec) {
                 auto& st = *self->impl_;
                 if (st.down)
                   return;
                 st.down = true;
                 self->close_http_sockets();
                 if (self->on_down)
                   self->on_down(*self, ec ? describe("close", ec) : "");
               });
  }
}

} // namespace parley::bench
