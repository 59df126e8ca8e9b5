// The admin console's HTTP session (Beast and Boost.JSON; no CAF: what
// needs the actors goes through `admin_backend`). One request at a time on a
// kept connection: authenticate, route, answer JSON, log every action with
// the operator's name.
#include "parley/gateway/admin_session.hpp"

#include "parley/runtime/log.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <spdlog/spdlog.h>

#include <string>
#include <vector>

namespace parley::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace json = boost::json;
using tcp = net::ip::tcp;

namespace {

/// Bodies of actions are small JSON objects.
constexpr size_t max_admin_request = 16 * 1024;

std::string error_json(const std::string& why) {
  return json::serialize(json::object{{"error", why}});
}

class admin_session final : public internal::session_base,
                            public std::enable_shared_from_this<admin_session> {
public:
  admin_session(tcp::socket&& socket, std::string peer,
                std::shared_ptr<internal::shared_state> state)
    : stream_(std::move(socket)),
      executor_(stream_.get_executor()),
      peer_(std::move(peer)),
      state_(std::move(state)) {
    // nop
  }

  ~admin_session() override {
    state_->remove(this);
  }

  void run() {
    state_->add(shared_from_this());
    do_read();
  }

  void shutdown() override {
    net::post(executor_, [self = shared_from_this()] { self->stream_.cancel(); });
  }

private:
  const admin_config& admin() const {
    return state_->cfg.admin;
  }

  void do_read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(max_admin_request));
    parser_->body_limit(max_admin_request);
    stream_.expires_after(state_->cfg.handshake_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&admin_session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout
        || ec == net::error::operation_aborted || ec == net::error::eof
        || ec == net::error::connection_reset)
      return close();
    if (ec) {
      keep_ = false;
      return answer(400, error_json("bad request: " + ec.message()));
    }
    req_ = parser_->release();
    keep_ = req_.keep_alive();
    // Who asks, before what: a user's token, a guessed one or none gets
    // 401, the same for every path.
    who_ = find_admin_token(admin().tokens, req_[http::field::authorization]);
    if (!who_) {
      state_->stats->refused("admin_unauthorized");
      if (auto held = state_->admin_log.admit())
        spdlog::warn("admin: refused a request from {} without a valid admin token (401){}",
                     peer_, runtime::log_limiter::more(*held));
      return answer(401, error_json("an admin token is required: Authorization: Bearer TOKEN"));
    }
    route();
  }

  /// The target's path segments, percent-decoded (a room name may hold
  /// any character); nothing if the target does not parse.
  std::optional<std::vector<std::string>> segments() const {
    auto url = boost::urls::parse_origin_form(req_.target());
    if (!url)
      return std::nullopt;
    std::vector<std::string> out;
    for (auto seg : url->segments())
      out.push_back(seg);
    return out;
  }

  /// The request's JSON object body (empty object for no body); nothing,
  /// after answering 400, if it is not one.
  std::optional<json::object> body_object() {
    if (req_.body().empty())
      return json::object{};
    json::error_code ec;
    auto v = json::parse(req_.body(), ec);
    if (ec || !v.is_object()) {
      answer(400, error_json("the body must be a JSON object"));
      return std::nullopt;
    }
    return std::move(v.as_object());
  }

  /// A string field of `o`; `fallback` when absent; nothing (400 sent)
  /// when it is there but not a string.
  std::optional<std::string> string_field(const json::object& o, const char* name,
                                          std::optional<std::string> fallback) {
    auto* v = o.if_contains(name);
    if (!v) {
      if (!fallback)
        answer(400, error_json(std::string{"the body needs \""} + name + "\", a string"));
      return fallback;
    }
    if (!v->is_string()) {
      answer(400, error_json(std::string{"\""} + name + "\" must be a string"));
      return std::nullopt;
    }
    return std::string{v->as_string()};
  }

  void route() {
    auto segs = segments();
    if (!segs)
      return answer(400, error_json("the target does not parse"));
    auto& s = *segs;
    auto method = req_.method();
    auto is = [&](std::initializer_list<const char*> path) {
      if (path.size() != s.size())
        return false;
      size_t i = 0;
      for (auto* p : path) {
        if (*p != '*' && s[i] != p)
          return false;
        ++i;
      }
      return true;
    };
    auto only = [&](http::verb v) {
      if (method == v)
        return true;
      answer(405, error_json(std::string{"use "} + std::string{http::to_string(v)}));
      return false;
    };
    if (is({"status"})) {
      if (only(http::verb::get))
        status();
      return;
    }
    if (is({"connections"})) {
      if (only(http::verb::get))
        connections();
      return;
    }
    if (is({"connections", "*", "close"})) {
      if (only(http::verb::post))
        kick_connection(s[1]);
      return;
    }
    if (is({"metrics"})) {
      if (only(http::verb::get))
        answer(200, state_->stats->render(), "text/plain; version=0.0.4; charset=utf-8");
      return;
    }
    if (is({"log-level"})) {
      if (only(http::verb::put))
        log_level();
      return;
    }
    auto backend = admin().backend;
    if (!backend && (is({"rooms"}) || is({"tree"}) || is({"cluster"}) || is({"drain"})
                     || (s.size() == 3 && s[0] == "rooms")))
      return answer(503, error_json("this listener runs without an actor system"));
    if (is({"rooms"})) {
      if (only(http::verb::get))
        backend->rooms(reply_later());
      return;
    }
    if (is({"tree"})) {
      if (only(http::verb::get))
        backend->tree(reply_later());
      return;
    }
    if (is({"cluster"})) {
      if (only(http::verb::get))
        backend->cluster(reply_later());
      return;
    }
    if (is({"rooms", "*", "close"})) {
      if (!only(http::verb::post))
        return;
      spdlog::warn("admin: {} ({}) closes room '{}'", who_->name, peer_,
                   runtime::printable(s[1], 64));
      backend->close_room(s[1], who_->name, reply_later());
      return;
    }
    if (is({"rooms", "*", "notice"})) {
      if (!only(http::verb::post))
        return;
      auto body = body_object();
      if (!body)
        return;
      auto text = string_field(*body, "text", std::nullopt);
      if (!text)
        return;
      if (text->empty())
        return answer(400, error_json("\"text\" is empty"));
      spdlog::warn("admin: {} ({}) sends a notice to room '{}': {}", who_->name, peer_,
                   runtime::printable(s[1], 64), runtime::printable(*text, 200));
      backend->notice(s[1], *text, who_->name, reply_later());
      return;
    }
    if (is({"drain"})) {
      if (!only(http::verb::post))
        return;
      spdlog::warn("admin: {} ({}) starts a drain", who_->name, peer_);
      keep_ = false;
      // Once the answer is out: the drain closes every session, this one too.
      drain_after_answer_ = true;
      answer(202, json::serialize(json::object{{"draining", true}}));
      return;
    }
    answer(404, error_json("no such endpoint: see docs/deploy.md, \"The admin console\""));
  }

  void status() {
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - state_->started);
    json::object o{
      {"node", admin().node},
      {"version", admin().version},
      {"commit", admin().commit},
      {"build_type", admin().build_type},
      {"uptime_s", uptime.count()},
      {"draining", state_->stopping()},
      {"tls", static_cast<bool>(state_->cfg.tls)},
      {"sockets", state_->active.load()},
      {"websockets", state_->websockets.load()},
      {"max_connections", state_->cfg.max_connections},
    };
    answer(200, json::serialize(o));
  }

  void connections() {
    json::array list;
    for (auto& s : state_->live_sessions()) {
      auto info = s->describe();
      if (!info)
        continue;
      json::array rooms;
      for (auto& r : info->rooms)
        rooms.emplace_back(r);
      list.emplace_back(json::object{
        {"id", info->id},
        {"user", info->user},
        {"guest", info->guest},
        {"address", info->address},
        {"transport", info->transport},
        {"tls", info->tls},
        {"rooms", std::move(rooms)},
        {"queued_frames", info->queued.frames},
        {"queued_bytes", info->queued.bytes},
        {"age_s", info->age_s},
      });
    }
    answer(200, json::serialize(json::object{{"connections", std::move(list)}}));
  }

  void kick_connection(const std::string& id) {
    auto body = body_object();
    if (!body)
      return;
    auto reason = string_field(*body, "reason", std::string{"no reason given"});
    if (!reason)
      return;
    for (auto& s : state_->live_sessions()) {
      auto info = s->describe();
      if (!info || info->id != id)
        continue;
      spdlog::warn("admin: {} ({}) kicks connection {} ({} from {}): {}", who_->name, peer_, id,
                   runtime::printable(info->user, 64), info->address,
                   runtime::printable(*reason, 200));
      s->kick(*reason);
      return answer(200, json::serialize(json::object{{"closed", id}, {"code", 4000}}));
    }
    answer(404, error_json("no open connection " + runtime::printable(id, 32)));
  }

  void log_level() {
    auto body = body_object();
    if (!body)
      return;
    auto name = string_field(*body, "level", std::nullopt);
    if (!name)
      return;
    auto level = runtime::parse_log_level(*name);
    if (!level)
      return answer(400, error_json("\"level\" is one of trace, debug, info, warn, error, off"));
    auto before = spdlog::level::to_string_view(spdlog::get_level());
    spdlog::warn("admin: {} ({}) sets the log level from {} to {}", who_->name, peer_,
                 std::string_view{before.data(), before.size()}, *name);
    spdlog::set_level(*level);
    answer(200, json::serialize(json::object{{"level", *name}}));
  }

  /// A callback for the backend: answers on this session's executor.
  admin_callback reply_later() {
    return [self = shared_from_this()](admin_result r) {
      net::post(self->executor_, [self, r = std::move(r)]() mutable {
        self->answer(r.status, std::move(r.json));
      });
    };
  }

  void answer(int status, std::string body, const char* type = "application/json") {
    auto res = std::make_shared<http::response<http::string_body>>(
      static_cast<http::status>(status), req_.version() ? req_.version() : 11);
    res->set(http::field::server, "parley-gateway");
    res->set(http::field::content_type, type);
    res->set(http::field::cache_control, "no-store");
    if (status == 401)
      res->set(http::field::www_authenticate, "Bearer realm=\"parley-admin\"");
    if (!body.empty() && body.back() != '\n' && type[0] == 'a')
      body += '\n';
    res->body() = std::move(body);
    bool keep = keep_ && status < 500 && !state_->stopping();
    res->keep_alive(keep);
    res->prepare_payload();
    stream_.expires_after(state_->cfg.handshake_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res, keep](beast::error_code ec,
                                                                          size_t) {
      if (self->drain_after_answer_) {
        self->drain_after_answer_ = false;
        self->close();
        if (auto backend = self->admin().backend)
          backend->drain(self->who_->name);
        return;
      }
      if (!ec && keep)
        self->do_read();
      else
        self->close();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  const beast::tcp_stream::executor_type executor_;
  const std::string peer_;
  std::shared_ptr<internal::shared_state> state_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
  const admin_token* who_ = nullptr;
  bool keep_ = false;
  bool drain_after_answer_ = false;
};

} // namespace

void start_admin_session(tcp::socket socket, std::string peer,
                         std::shared_ptr<internal::shared_state> state) {
  std::make_shared<admin_session>(std::move(socket), std::move(peer), std::move(state))->run();
}

} // namespace parley::gateway
