#pragma once

/// @file
/// What the listener and its sessions share: the settings, the connection
/// factory, the count of open sockets and the registry of live sessions that
/// `listener::stop` closes. Private to the gateway; Beast-free.

#include "parley/gateway/config.hpp"
#include "parley/gateway/connection_factory.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace parley::gateway::internal {

/// A session the listener can ask to go away (HTTP or WebSocket).
class session_base {
public:
  virtual ~session_base() = default;

  /// Closes the session soon (WebSocket: close 1001). Any thread.
  virtual void shutdown() = 0;
};

/// Shared by the listener and every session; sessions keep it alive.
struct shared_state {
  shared_state(gateway_config c, connection_factory f) : cfg(std::move(c)), factory(std::move(f)) {
    // nop
  }

  const gateway_config cfg;
  const connection_factory factory;
  /// Sockets that hold a slot (not the ones being refused with 503).
  std::atomic<size_t> active{0};
  std::atomic<uint64_t> next_id{0};

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

  /// Marks the gateway as stopping and asks every live session to go away.
  void shutdown_all() {
    std::vector<std::shared_ptr<session_base>> live;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
      for (auto& kv : sessions_)
        if (auto s = kv.second.lock())
          live.push_back(std::move(s));
    }
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

  bool stopping() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return stopping_;
  }

private:
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::unordered_map<session_base*, std::weak_ptr<session_base>> sessions_;
  bool stopping_ = false;
};

/// One unit of `shared_state::active`, released when destroyed (moves with
/// the socket from the HTTP session to the WebSocket session).
class connection_slot {
public:
  connection_slot() = default;

  explicit connection_slot(std::shared_ptr<shared_state> st) : state_(std::move(st)) {
    state_->active.fetch_add(1);
  }

  connection_slot(connection_slot&&) noexcept = default;
  connection_slot& operator=(connection_slot&&) noexcept = default;

  ~connection_slot() {
    if (state_)
      state_->active.fetch_sub(1);
  }

  explicit operator bool() const {
    return static_cast<bool>(state_);
  }

private:
  std::shared_ptr<shared_state> state_;
};

} // namespace parley::gateway::internal
