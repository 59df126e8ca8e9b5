#pragma once

/// @file
/// What the listener and its sessions share: the settings, the connection
/// factory, the count of open sockets and the registry of live sessions that
/// `listener::stop` closes. Private to the gateway; Beast-free.

#include "parley/gateway/config.hpp"
#include "parley/gateway/connection_factory.hpp"
#include "parley/gateway/metrics.hpp"
#include "parley/gateway/origin.hpp"
#include "parley/runtime/log.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace parley::gateway::internal {

class http_channel;

/// Frames and bytes waiting in a session's write queue.
struct queue_depth {
  size_t frames = 0;
  size_t bytes = 0;
};

/// What the admin console shows of a WebSocket session.
struct session_info {
  std::string id;
  std::string address;
  std::string transport; ///< "websocket"
  bool tls = false;
  std::string user;
  bool guest = false;
  std::vector<std::string> rooms;
  queue_depth queued;
  /// Seconds since the upgrade.
  int64_t age_s = 0;
};

/// A session the listener can ask to go away (HTTP or WebSocket).
class session_base {
public:
  virtual ~session_base() = default;

  /// Closes the session soon (WebSocket: close 1001). Any thread.
  virtual void shutdown() = 0;

  /// What waits in its write queue (HTTP sessions have none). Any thread.
  virtual queue_depth queued() const {
    return {};
  }

  /// Starts writing what its queue holds (see `shared_state::mark_ready`).
  /// Called on an I/O thread.
  virtual void start_write() {
    // nop
  }

  /// A WebSocket's description (nothing for an HTTP session). Any thread.
  virtual std::optional<session_info> describe() const {
    return std::nullopt;
  }

  /// An operator closes the session: code 4000 with `reason`. False for a
  /// session that is no WebSocket. Any thread.
  virtual bool kick(const std::string& reason) {
    (void)reason;
    return false;
  }
};

/// Shared by the listener and every session; sessions keep it alive.
struct shared_state {
  shared_state(gateway_config c, connection_factory f, std::shared_ptr<gateway::metrics> m)
    : cfg(std::move(c)), origins(cfg.allowed_origins), factory(std::move(f)), stats(std::move(m)) {
    // nop
  }

  const gateway_config cfg;
  const origin_policy origins;
  /// Refused upgrades are logged once a second at most.
  runtime::log_limiter origin_log;
  /// Failed TLS handshakes too (scanners, clients that distrust the
  /// certificate).
  runtime::log_limiter tls_log;
  /// Admin requests without a valid token.
  runtime::log_limiter admin_log;
  const connection_factory factory;
  const std::shared_ptr<gateway::metrics> stats;
  /// Sockets that hold a slot (not the ones being refused with 503).
  std::atomic<size_t> active{0};
  std::atomic<uint64_t> next_id{0};
  /// Open WebSockets; `listener::stop` waits for it to reach zero.
  std::atomic<size_t> websockets{0};
  /// Live sessions of the HTTP transports (http_channel.hpp); the drain
  /// waits for them too.
  std::atomic<size_t> channels{0};

  /// Takes one slot for a socket from `address`: empty with the reason
  /// ("max_connections", "per_address") when the gateway is full.
  bool try_take(const std::string& address, std::string& reason) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (active.load() >= cfg.max_connections) {
      reason = "max_connections";
      return false;
    }
    auto& n = per_address_[address];
    if (cfg.max_connections_per_address > 0 && n >= cfg.max_connections_per_address) {
      if (n == 0)
        per_address_.erase(address);
      reason = "per_address";
      return false;
    }
    ++n;
    active.fetch_add(1);
    return true;
  }

  void give_back(const std::string& address) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto i = per_address_.find(address); i != per_address_.end() && --i->second == 0)
      per_address_.erase(i);
    active.fetch_sub(1);
  }

  void websocket_opened() {
    websockets.fetch_add(1);
    stats->websocket_opened();
  }

  void websocket_closed() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      websockets.fetch_sub(1);
    }
    stats->websocket_closed();
    cv_.notify_all();
  }

  void channel_opened() {
    channels.fetch_add(1);
    stats->channel_opened();
  }

  void channel_closed() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      channels.fetch_sub(1);
    }
    stats->channel_closed();
    cv_.notify_all();
  }

  /// Lists a channel under its id (its key is what protects it).
  void add_channel(const std::string& id, std::shared_ptr<http_channel> ch) {
    std::lock_guard<std::mutex> guard{channels_mtx_};
    channels_.emplace(id, std::move(ch));
  }

  /// The channel `id`, or null.
  std::shared_ptr<http_channel> find_channel(const std::string& id) const {
    std::lock_guard<std::mutex> guard{channels_mtx_};
    auto i = channels_.find(id);
    return i == channels_.end() ? nullptr : i->second;
  }

  /// Forgets the channel `id` (it is destroyed once no request holds it).
  void forget_channel(const std::string& id) {
    std::shared_ptr<http_channel> gone;
    std::lock_guard<std::mutex> guard{channels_mtx_};
    if (auto i = channels_.find(id); i != channels_.end()) {
      gone = std::move(i->second);
      channels_.erase(i);
    }
  }

  /// Every listed channel, to sweep outside the lock.
  std::vector<std::shared_ptr<http_channel>> all_channels() const {
    std::lock_guard<std::mutex> guard{channels_mtx_};
    std::vector<std::shared_ptr<http_channel>> out;
    out.reserve(channels_.size());
    for (auto& kv : channels_)
      out.push_back(kv.second);
    return out;
  }

  /// Lets go of every channel (the listener stopped).
  void forget_all_channels() {
    std::unordered_map<std::string, std::shared_ptr<http_channel>> gone;
    std::lock_guard<std::mutex> guard{channels_mtx_};
    gone.swap(channels_);
  }

  /// Adds a session; false if the gateway is stopping (then the session
  /// goes away on its own).
  bool add(const std::shared_ptr<session_base>& s) {
    std::lock_guard<std::mutex> guard{mtx_};
    sessions_.emplace(s.get(), s);
    return !stopping_;
  }

  /// Called from a session's destructor.
  void remove(session_base* s) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      sessions_.erase(s);
    }
    cv_.notify_all();
  }

  /// The write queues of all sessions together, summed when /metrics is
  /// scraped rather than tracked on every frame.
  queue_depth total_queued() const {
    auto live = snapshot();
    queue_depth sum;
    for (auto& s : live) {
      auto d = s->queued();
      sum.frames += d.frames;
      sum.bytes += d.bytes;
    }
    return sum;
  }

  /// Marks the gateway as draining (`/healthz` answers 503, upgrades are
  /// refused) and asks every live session to go away: WebSockets close with
  /// 1001, pending HTTP reads are cancelled.
  void shutdown_all() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    auto live = snapshot();
    // Outside the lock: shutdown() only posts, but a session may be
    // destroyed right here when `live` lets go of it.
    for (auto& s : live)
      s->shutdown();
  }

  /// Waits until no session is left or `timeout` passed; true if none is left.
  template <class Duration>
  bool wait_empty(Duration timeout) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, [this] { return sessions_.empty(); });
  }

  /// Waits until no WebSocket is open and no HTTP session lives, or
  /// `timeout` passed.
  template <class Duration>
  bool wait_no_websockets(Duration timeout) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout,
                        [this] { return websockets.load() == 0 && channels.load() == 0; });
  }

  /// The sizes of the per-connection records, for /metrics: each returns to
  /// its baseline when the clients are gone.
  struct record_sizes {
    size_t sessions = 0;   ///< sessions listed for `shutdown_all`
    size_t addresses = 0;  ///< client addresses with a per-address count
    size_t ready = 0;      ///< sessions waiting for a write start
  };

  record_sizes sizes() const {
    record_sizes r;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      r.sessions = sessions_.size();
      r.addresses = per_address_.size();
    }
    std::lock_guard<std::mutex> guard{ready_mtx_};
    r.ready = ready_.size();
    return r;
  }

  bool stopping() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return stopping_;
  }

  /// Notes a session that has frames to write and no write running. A room
  /// fans a message out to many sessions at once: rather than one handler
  /// posted to the I/O threads per session (an allocation, the scheduler's
  /// lock and maybe a wake-up each), the sessions gather here and one posted
  /// handler starts them all (`take_ready`). True when the caller must post
  /// that handler: nothing was waiting before.
  bool mark_ready(std::shared_ptr<session_base> s) {
    std::lock_guard<std::mutex> guard{ready_mtx_};
    ready_.push_back(std::move(s));
    if (drain_posted_)
      return false;
    drain_posted_ = true;
    return true;
  }

  /// The sessions gathered by `mark_ready` (on an I/O thread, by the posted
  /// handler); the next `mark_ready` posts again.
  void take_ready(std::vector<std::shared_ptr<session_base>>& out) {
    out.clear();
    std::lock_guard<std::mutex> guard{ready_mtx_};
    out.swap(ready_);
    drain_posted_ = false;
  }

  /// The live sessions (for the admin console), to use outside any lock.
  std::vector<std::shared_ptr<session_base>> live_sessions() const {
    return snapshot();
  }

  /// When the listener was made (the console's uptime).
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

private:
  /// The live sessions. Used outside the lock: a session may be destroyed
  /// when the snapshot lets go of it, and its destructor takes the lock.
  std::vector<std::shared_ptr<session_base>> snapshot() const {
    std::vector<std::shared_ptr<session_base>> live;
    std::lock_guard<std::mutex> guard{mtx_};
    live.reserve(sessions_.size());
    for (auto& kv : sessions_)
      if (auto s = kv.second.lock())
        live.push_back(std::move(s));
    return live;
  }

  /// The HTTP transports' sessions by id. A separate lock: a channel's
  /// destructor takes `mtx_` (remove), and may run when this map lets go.
  mutable std::mutex channels_mtx_;
  std::unordered_map<std::string, std::shared_ptr<http_channel>> channels_;

  mutable std::mutex ready_mtx_;
  std::vector<std::shared_ptr<session_base>> ready_;
  bool drain_posted_ = false;

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::unordered_map<session_base*, std::weak_ptr<session_base>> sessions_;
  std::unordered_map<std::string, size_t> per_address_;
  bool stopping_ = false;
};

/// One slot of `shared_state::active` (and of its address's share), released
/// when destroyed; moves with the socket from the HTTP session to the
/// WebSocket session. An empty slot means the caps refused it, for `refusal`.
class connection_slot {
public:
  connection_slot() = default;

  /// Takes a slot for `address`, or stays empty and says why.
  connection_slot(std::shared_ptr<shared_state> st, std::string address) {
    if (st->try_take(address, refusal)) {
      state_ = std::move(st);
      address_ = std::move(address);
    }
  }

  connection_slot(connection_slot&& other) noexcept = default;

  connection_slot& operator=(connection_slot&& other) noexcept {
    release();
    state_ = std::move(other.state_);
    address_ = std::move(other.address_);
    refusal = std::move(other.refusal);
    return *this;
  }

  ~connection_slot() {
    release();
  }

  /// The client's address.
  const std::string& address() const {
    return address_;
  }

  explicit operator bool() const {
    return static_cast<bool>(state_);
  }

  /// Why the slot is empty: "max_connections" or "per_address".
  std::string refusal;

private:
  void release() {
    if (state_) {
      state_->give_back(address_);
      state_.reset();
    }
  }

  std::shared_ptr<shared_state> state_;
  std::string address_;
};

} // namespace parley::gateway::internal
