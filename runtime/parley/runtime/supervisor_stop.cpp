// The supervisor's stop sequences: children stop one at a time, in reverse
// start order, each with `user_shutdown` and, after its shutdown timeout,
// `kill`; other events wait until a sequence completes. The rest of the
// supervisor is in supervisor.cpp.

#include "parley/runtime/supervisor.hpp"

#include "parley/runtime/stats.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <spdlog/spdlog.h>

namespace parley::runtime {

// -- stop sequences -----------------------------------------------------------------

void supervisor_state::stop_then(std::vector<child_iter> targets, std::function<void()> then) {
  busy_ = true;
  stop_queue_.assign(targets.begin(), targets.end());
  after_stop_ = std::move(then);
  stop_next();
}

void supervisor_state::stop_next() {
  while (!stop_queue_.empty()) {
    auto it = stop_queue_.front();
    stop_queue_.pop_front();
    if (!it->handle)
      continue;
    stopping_ = it;
    ++it->generation;
    spdlog::debug("supervisor {}: stopping '{}'", self_->id(), it->spec.id);
    self_->send_exit(it->handle, caf::exit_reason::user_shutdown);
    if (it->spec.shutdown != infinite_shutdown)
      self_->delayed_send(self_, it->spec.shutdown, kill_child_atom::value, it->spec.id,
                          it->generation);
    return;
  }
  // The sequence is complete.
  busy_ = false;
  auto then = std::move(after_stop_);
  after_stop_ = nullptr;
  if (final_stop_) {
    // Answer what waited; with shutting_down_ set, requests get an error.
    while (!deferred_.empty()) {
      auto fn = std::move(deferred_.front());
      deferred_.pop_front();
      fn();
    }
    self_->quit(shutdown_reason_);
    return;
  }
  if (shutting_down_) {
    // An exit request arrived during a restart: stop, do not restart.
    stop_all_then_quit();
    return;
  }
  if (then)
    then();
  while (!busy_ && !deferred_.empty()) {
    auto fn = std::move(deferred_.front());
    deferred_.pop_front();
    fn();
  }
}

void supervisor_state::on_kill_timeout(const std::string& id, uint64_t generation) {
  auto it = by_id(id);
  if (it == children_.end() || !stopping_ || *stopping_ != it || it->generation != generation
      || !it->handle)
    return; // it stopped in time
  spdlog::warn("supervisor {}: child '{}' did not stop within its shutdown timeout, killing",
               self_->id(), id);
  self_->send_exit(it->handle, caf::exit_reason::kill);
}

void supervisor_state::shut_down(caf::error reason) {
  if (shutting_down_)
    return;
  shutting_down_ = true;
  shutdown_reason_ = std::move(reason);
  if (!busy_)
    stop_all_then_quit();
  // else: stop_next() sees shutting_down_ when the current sequence ends.
}

void supervisor_state::stop_all_then_quit() {
  final_stop_ = true;
  std::vector<child_iter> targets;
  for (auto it = children_.begin(); it != children_.end(); ++it)
    if (it->handle)
      targets.push_back(it);
  std::reverse(targets.begin(), targets.end());
  stop_then(std::move(targets), nullptr);
}

void supervisor_state::forget_handle(child_iter it) {
  if (it->handle) {
    by_addr_.erase(it->handle.address());
    it->handle = nullptr;
  }
}

void supervisor_state::erase(child_iter it) {
  forget_handle(it);
  by_id_.erase(it->spec.id);
  children_.erase(it);
  supervisors().children.fetch_sub(1, std::memory_order_relaxed);
}

} // namespace parley::runtime
