#include "parley/gevent/event.hpp"

#include "parley/gevent/timeout.hpp"

#include <caf/actor_system.hpp>

namespace parley::gevent {

uint64_t event_state::set() {
  flag_ = true;
  auto woken = waiters_.take_all();
  for (auto& w : woken)
    w.promise.deliver(true);
  return woken.size();
}

bool event_state::clear() {
  return std::exchange(flag_, false);
}

caf::result<bool> event_state::wait(caf::timespan timeout, bool has_timeout) {
  if (has_timeout)
    if (auto err = internal::check_wait(timeout, "event wait"))
      return err;
  if (flag_)
    return true;
  if (has_timeout && timeout == caf::timespan{0})
    return timeout_error("event wait", timeout);
  if (auto err = internal::check_room(waiters_.size(), max_waiters_, "event wait"))
    return err;
  auto id = next_id_++;
  auto rp = self_->make_response_promise<bool>();
  waiters_.push(id, rp, timeout);
  if (has_timeout)
    self_->delayed_send(self_, timeout, expire_atom::value, id);
  return rp;
}

void event_state::expire(uint64_t id) {
  if (auto w = waiters_.take(id))
    w->promise.deliver(timeout_error("event wait", w->payload));
}

event_actor::behavior_type event_impl(event_state::pointer self, size_t max_waiters) {
  self->state.init(max_waiters);
  return {
    [self](set_atom) { return self->state.set(); },
    [self](clear_atom) { return self->state.clear(); },
    [self](wait_atom) { return self->state.wait(caf::timespan{0}, false); },
    [self](wait_atom, caf::timespan timeout) { return self->state.wait(timeout, true); },
    [self](ready_atom) { return self->state.is_set(); },
    [self](expire_atom, uint64_t id) { self->state.expire(id); },
  };
}

event_actor spawn_event(caf::actor_system& sys, size_t max_waiters) {
  return sys.spawn(event_impl, max_waiters);
}

} // namespace parley::gevent
