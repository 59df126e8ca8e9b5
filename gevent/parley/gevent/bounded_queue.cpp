#include "parley/gevent/bounded_queue.hpp"

#include "parley/gevent/timeout.hpp"
#include "parley/runtime/errc.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/sec.hpp>
#include <caf/system_messages.hpp>

namespace parley::gevent {

using runtime::errc;

bounded_queue_state::~bounded_queue_state() {
  for (auto& w : putters_.take_all())
    w.promise.deliver(caf::make_error(caf::sec::request_receiver_down));
  for (auto& w : getters_.take_all())
    w.promise.deliver(caf::make_error(caf::sec::request_receiver_down));
}

caf::result<uint64_t> bounded_queue_state::put(item x, caf::timespan timeout, bool has_timeout) {
  if (has_timeout)
    if (auto err = internal::check_wait(timeout, "queue put"))
      return err;
  // A parked get means the queue is empty: hand the item over directly.
  if (auto w = getters_.pop()) {
    unwatch(w->payload.source);
    w->promise.deliver(std::move(x));
    return static_cast<uint64_t>(items_.size());
  }
  if (items_.size() < capacity_) {
    items_.push_back(std::move(x));
    return static_cast<uint64_t>(items_.size());
  }
  if (has_timeout && timeout == caf::timespan{0})
    return runtime::make_error(errc::capacity_exceeded,
                               "queue full: " + std::to_string(capacity_) + " items");
  if (auto err = internal::check_room(putters_.size(), max_waiters_, "queue put"))
    return err;
  auto id = next_id_++;
  auto rp = self_->make_response_promise<uint64_t>();
  putters_.push(id, rp, put_waiter{std::move(x), timeout});
  if (has_timeout)
    self_->delayed_send(self_, timeout, expire_atom::value, id);
  return rp;
}

caf::result<bounded_queue_state::item> bounded_queue_state::get(caf::timespan timeout,
                                                                bool has_timeout) {
  if (has_timeout)
    if (auto err = internal::check_wait(timeout, "queue get"))
      return err;
  if (!items_.empty()) {
    auto result = std::move(items_.front());
    items_.pop_front();
    // There is room now: admit the oldest parked put.
    if (auto w = putters_.pop()) {
      items_.push_back(std::move(w->payload.x));
      w->promise.deliver(static_cast<uint64_t>(items_.size()));
    }
    return result;
  }
  if (has_timeout && timeout == caf::timespan{0})
    return timeout_error("queue get", timeout);
  if (auto err = internal::check_room(getters_.size(), max_waiters_, "queue get"))
    return err;
  auto id = next_id_++;
  auto source = caf::actor_cast<caf::actor_addr>(self_->current_sender());
  auto rp = self_->make_response_promise<item>();
  getters_.push(id, rp, get_waiter{source, timeout});
  watch(source);
  if (has_timeout)
    self_->delayed_send(self_, timeout, expire_atom::value, id);
  return rp;
}

void bounded_queue_state::expire(uint64_t id) {
  if (auto w = putters_.take(id)) {
    w->promise.deliver(timeout_error("queue put", w->payload.timeout));
  } else if (auto w = getters_.take(id)) {
    unwatch(w->payload.source);
    w->promise.deliver(timeout_error("queue get", w->payload.timeout));
  }
}

void bounded_queue_state::on_down(const caf::down_msg& msg) {
  // A consumer that ended cannot take an item: drop its gets, so the next
  // put goes to someone alive.
  auto source = msg.source;
  getters_.erase_if([&](const get_waiter& w) { return w.source == source; });
  watched_.erase(source);
}

void bounded_queue_state::watch(const caf::actor_addr& x) {
  if (x && watched_[x]++ == 0)
    self_->monitor(x);
}

void bounded_queue_state::unwatch(const caf::actor_addr& x) {
  if (!x)
    return;
  auto i = watched_.find(x);
  if (i != watched_.end() && --i->second == 0) {
    self_->demonitor(x);
    watched_.erase(i);
  }
}

bounded_queue_actor::behavior_type bounded_queue_impl(bounded_queue_state::pointer self,
                                                      size_t capacity, size_t max_waiters) {
  self->state.init(capacity, max_waiters);
  self->set_down_handler([self](caf::down_msg& msg) { self->state.on_down(msg); });
  return {
    [self](put_atom, std::string& x) { return self->state.put(std::move(x), {}, false); },
    [self](put_atom, std::string& x, caf::timespan timeout) {
      return self->state.put(std::move(x), timeout, true);
    },
    [self](get_atom) { return self->state.get({}, false); },
    [self](get_atom, caf::timespan timeout) { return self->state.get(timeout, true); },
    [self](size_atom) { return static_cast<uint64_t>(self->state.size()); },
    [self](expire_atom, uint64_t id) { self->state.expire(id); },
  };
}

caf::expected<bounded_queue_actor> spawn_bounded_queue(caf::actor_system& sys, size_t capacity,
                                                       size_t max_waiters) {
  if (capacity == 0)
    return runtime::make_error(errc::invalid_argument,
                               std::string{"queue capacity must be at least 1"});
  if (max_waiters == 0)
    return runtime::make_error(errc::invalid_argument,
                               std::string{"queue max_waiters must be at least 1"});
  return sys.spawn(bounded_queue_impl, capacity, max_waiters);
}

} // namespace parley::gevent
