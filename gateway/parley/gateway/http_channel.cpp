// The HTTP transports' session (internal/http_channel.hpp). Beast-free.
#include "parley/gateway/internal/http_channel.hpp"

#include "parley/gateway/error_table.hpp"
#include "parley/gateway/replies.hpp"
#include "parley/runtime/log.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace parley::gateway::internal {

namespace {

/// The sink the connection actor holds: a weak reference, so the actor
/// never keeps a session alive.
class channel_sink final : public actors::frame_sink {
public:
  explicit channel_sink(std::weak_ptr<http_channel> ch) : ch_(std::move(ch)) {
    // nop
  }

  actors::sink_status send(std::shared_ptr<const std::string> bytes) override {
    if (auto ch = ch_.lock())
      return ch->enqueue(std::move(bytes));
    return actors::sink_status::closed;
  }

  actors::sink_status reply(const actors::server_reply& r, proto::encoding enc) override {
    auto ch = ch_.lock();
    if (!ch)
      return actors::sink_status::closed;
    auto out = encode_reply(r, enc);
    if (out.error != v1::ERROR_CODE_UNSPECIFIED)
      ch->error_sent(out.error, out.ref, out.reason);
    return ch->enqueue(std::move(out.bytes));
  }

  void close(actors::close_cause cause) override {
    if (auto ch = ch_.lock())
      ch->request_close(cause);
  }

  void expire_at(std::chrono::system_clock::time_point when) override {
    if (auto ch = ch_.lock())
      ch->expire_at(when);
  }

  void describe_as(const std::string& user, bool guest, std::vector<std::string> rooms) override {
    if (auto ch = ch_.lock())
      ch->set_identity(user, guest, std::move(rooms));
  }

private:
  std::weak_ptr<http_channel> ch_;
};

} // namespace

http_channel::http_channel(std::shared_ptr<shared_state> state, connection_slot slot,
                           std::string id, std::string key, bool tls)
  : state_(std::move(state)),
    slot_(std::move(slot)),
    id_(std::move(id)),
    key_(std::move(key)),
    tls_(tls) {
  state_->channel_opened();
}

http_channel::~http_channel() {
  // The connection actor must go with the session, or the actor system
  // waits for it forever at shutdown.
  if (conn_)
    conn_->stop();
  state_->channel_closed();
  state_->remove(this);
}

void http_channel::start(std::string token) {
  if (!state_->add(shared_from_this()))
    request_close(actors::close_cause::shutting_down);
  conn_ = state_->factory(id_, std::make_shared<channel_sink>(weak_from_this()), std::move(token));
}

bool http_channel::key_matches(std::string_view key) const {
  return key.size() == key_.size() && CRYPTO_memcmp(key.data(), key_.data(), key.size()) == 0;
}

void http_channel::deliver(std::string_view json) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (close_)
      return; // as a WebSocket reads nothing more once it closes
  }
  state_->stats->frame_in(true, json.size());
  conn_->deliver(json, proto::encoding::json);
}

bool http_channel::ack(uint64_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (n >= next_n_)
    return false;
  while (!frames_.empty() && frames_.front().n <= n)
    drop_front_locked();
  return true;
}

void http_channel::drop_front_locked() {
  bytes_ -= frames_.front().bytes->size();
  frames_.pop_front();
}

http_channel::batch http_channel::take(uint64_t cursor, size_t max_bytes, bool streamed) {
  batch b;
  b.last = cursor;
  std::lock_guard<std::mutex> guard{mtx_};
  size_t sum = 0;
  for (auto& f : frames_) {
    if (f.n <= cursor)
      continue;
    if (!b.frames.empty() && sum + f.bytes->size() > max_bytes)
      break;
    if (b.frames.empty())
      b.first = f.n;
    sum += f.bytes->size();
    b.frames.push_back(f.bytes);
    b.last = f.n;
    state_->stats->frame_out(true, f.bytes->size());
  }
  if (streamed && b.last > streamed_)
    streamed_ = b.last;
  // The close comes after every frame: only with the batch that empties the
  // queue behind the cursor.
  if (close_ && (frames_.empty() || frames_.back().n <= b.last))
    b.close = close_;
  return b;
}

bool http_channel::can_resume_after(uint64_t cursor) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return cursor >= dropped_upto_ && cursor < next_n_;
}

uint64_t http_channel::attach(wake_fn wake) {
  wake_fn before;
  uint64_t token = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    before = std::move(wake_);
    wake_ = std::move(wake);
    token = receiver_ = next_token_++;
  }
  if (before)
    before(); // it finds itself superseded
  return token;
}

void http_channel::detach(uint64_t token) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (receiver_ != token)
    return;
  receiver_ = 0;
  wake_ = nullptr;
  idle_since_ = clock::now();
}

bool http_channel::is_current(uint64_t token) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return receiver_ == token;
}

void http_channel::finish() {
  wake_fn wake;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    finished_ = true;
    if (!close_)
      wake = close_locked({1000, "closed by the client"});
    frames_.clear();
    bytes_ = 0;
  }
  if (wake)
    wake();
  if (conn_)
    conn_->stop();
}

http_channel::wake_fn http_channel::close_locked(channel_close c) {
  if (close_)
    return {};
  close_ = std::move(c);
  return wake_;
}

void http_channel::request_close(actors::close_cause cause) {
  auto& m = close_of(cause);
  auto code = static_cast<uint16_t>(m.code);
  std::string reason{m.reason};
  if (reason.empty())
    reason = std::string{m.label};
  wake_fn wake;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (close_)
      return;
    if (kicked_) {
      // An operator's kick (the console logged who and why).
      code = 4000;
      reason = "kicked by an operator";
    }
    wake = close_locked({code, reason});
  }
  state_->stats->close_sent(code);
  spdlog::debug("session {}: closing {} ({})", id_, code, m.label);
  if (wake)
    wake();
}

void http_channel::close_with(channel_close c, const char* dropped_label) {
  wake_fn wake;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (close_)
      return;
    wake = close_locked(std::move(c));
  }
  if (dropped_label)
    state_->stats->dropped(dropped_label);
  if (wake)
    wake();
}

actors::sink_status http_channel::enqueue(std::shared_ptr<const std::string> bytes) {
  if (!bytes)
    return actors::sink_status::queued;
  wake_fn wake;
  auto size = bytes->size();
  auto status = actors::sink_status::queued;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (close_)
      return actors::sink_status::closed;
    auto& lim = state_->cfg.outbound;
    auto over = [&] {
      return frames_.size() + 1 > lim.max_frames || bytes_ + size > lim.max_bytes;
    };
    // Frames an event stream already carried are kept only for a resume:
    // they make room first.
    while (over() && !frames_.empty() && frames_.front().n <= streamed_) {
      dropped_upto_ = frames_.front().n;
      drop_front_locked();
    }
    if (over()) {
      // The client does not take its frames: a slow consumer, closed here
      // once, whoever wrote (frame_sink's contract). What it has not taken
      // is dropped; it resumes with sinceSeq.
      dropped_upto_ = next_n_ - 1;
      frames_.clear();
      bytes_ = 0;
      auto& m = close_of(actors::close_cause::slow_consumer);
      wake = close_locked({static_cast<uint16_t>(m.code), std::string{m.reason}});
      status = actors::sink_status::overflow;
      state_->stats->slow_consumer();
      state_->stats->close_sent(static_cast<uint16_t>(m.code));
      spdlog::info("session {}: closed: a slow consumer ({} frames, {} bytes unacknowledged)", id_,
                   lim.max_frames, lim.max_bytes);
    } else {
      frames_.push_back({next_n_++, std::move(bytes)});
      bytes_ += size;
      wake = wake_;
    }
  }
  if (wake)
    wake();
  return status;
}

void http_channel::error_sent(int wire_code, std::string_view ref, std::string_view reason) {
  auto code = static_cast<v1::ErrorCode>(wire_code);
  state_->stats->error_sent(code);
  auto level = is_server_fault(code) ? spdlog::level::warn : spdlog::level::debug;
  // The ref and the reason come from the client: escaped.
  spdlog::log(level, "session {}: {} (ref '{}'): {}", id_, v1::ErrorCode_Name(code),
              runtime::printable(ref, 64), runtime::printable(reason));
}

void http_channel::expire_at(std::chrono::system_clock::time_point when) {
  std::lock_guard<std::mutex> guard{mtx_};
  expires_ = when;
}

void http_channel::set_identity(const std::string& user, bool guest,
                                std::vector<std::string> rooms) {
  std::lock_guard<std::mutex> guard{mtx_};
  user_ = user;
  guest_ = guest;
  rooms_ = std::move(rooms);
}

bool http_channel::sweep(clock::time_point now, std::chrono::milliseconds idle) {
  bool expired = false;
  bool idle_out = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (finished_)
      return true;
    bool unclaimed = receiver_ == 0 && now - idle_since_ >= idle;
    if (close_)
      return unclaimed; // told, or nobody came to hear it
    expired = expires_ && std::chrono::system_clock::now() >= *expires_;
    idle_out = unclaimed;
  }
  if (expired) {
    spdlog::info("session {}: its token expired", id_);
    request_close(actors::close_cause::token_expired);
  } else if (idle_out) {
    spdlog::info("session {}: dropped: no poll or event stream for {} ms", id_, idle.count());
    close_with({1001, "idle: no poll or event stream"}, "idle_timeout");
    return true;
  }
  return false;
}

void http_channel::shutdown() {
  request_close(actors::close_cause::shutting_down);
}

queue_depth http_channel::queued() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return {frames_.size(), bytes_};
}

std::optional<session_info> http_channel::describe() const {
  session_info info;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (kicked_ || close_)
      return std::nullopt;
    info.user = user_;
    info.guest = guest_;
    info.rooms = rooms_;
    info.queued = {frames_.size(), bytes_};
    info.transport = streamed_ > 0 ? "sse" : "longpoll";
  }
  info.id = id_;
  info.address = slot_.address();
  info.tls = tls_;
  info.age_s = std::chrono::duration_cast<std::chrono::seconds>(clock::now() - opened_at_).count();
  return info;
}

bool http_channel::kick(const std::string& reason) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (kicked_ || close_)
      return false;
    kicked_ = true;
  }
  spdlog::info("session {}: kicked: {}", id_, runtime::printable(reason));
  request_close(actors::close_cause::shutting_down);
  return true;
}

std::optional<std::pair<std::string_view, std::string_view>> channel_path(std::string_view path) {
  constexpr std::string_view prefix = "/v1/sessions/";
  if (path.substr(0, prefix.size()) != prefix)
    return std::nullopt;
  auto rest = path.substr(prefix.size());
  auto slash = rest.find('/');
  auto id = rest.substr(0, slash);
  if (id.empty())
    return std::nullopt;
  auto verb = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  if (verb.find('/') != std::string_view::npos)
    return std::nullopt;
  return std::make_pair(id, verb);
}

std::string random_token() {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1)
    throw std::runtime_error("RAND_bytes failed");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (auto c : raw) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

} // namespace parley::gateway::internal
