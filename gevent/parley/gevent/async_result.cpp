#include "parley/gevent/async_result.hpp"

#include "parley/gevent/timeout.hpp"
#include "parley/runtime/errc.hpp"

#include <caf/actor_system.hpp>

namespace parley::gevent {

using runtime::errc;

caf::result<uint64_t> async_result_state::complete(caf::expected<int64_t> x) {
  if (result_)
    return runtime::make_error(errc::invalid_argument,
                               std::string{"async result is set already"});
  if (!x && !x.error())
    return runtime::make_error(errc::invalid_argument,
                               std::string{"fail needs a non-empty error"});
  result_ = std::move(x);
  auto woken = waiters_.take_all();
  for (auto& w : woken) {
    if (*result_)
      w.promise.deliver(**result_);
    else
      w.promise.deliver(result_->error());
  }
  return static_cast<uint64_t>(woken.size());
}

caf::result<int64_t> async_result_state::get(caf::timespan timeout, bool has_timeout) {
  if (has_timeout)
    if (auto err = internal::check_wait(timeout, "async result get"))
      return err;
  if (result_)
    return *result_;
  if (has_timeout && timeout == caf::timespan{0})
    return timeout_error("async result get", timeout);
  if (auto err = internal::check_room(waiters_.size(), max_waiters_, "async result get"))
    return err;
  auto id = next_id_++;
  auto rp = self_->make_response_promise<int64_t>();
  waiters_.push(id, rp, timeout);
  if (has_timeout)
    self_->delayed_send(self_, timeout, expire_atom::value, id);
  return rp;
}

void async_result_state::expire(uint64_t id) {
  if (auto w = waiters_.take(id))
    w->promise.deliver(timeout_error("async result get", w->payload));
}

async_result_actor::behavior_type async_result_impl(async_result_state::pointer self,
                                                    size_t max_waiters) {
  self->state.init(max_waiters);
  return {
    [self](set_atom, int64_t x) { return self->state.complete(x); },
    [self](fail_atom, caf::error& err) { return self->state.complete(std::move(err)); },
    [self](get_atom) { return self->state.get(caf::timespan{0}, false); },
    [self](get_atom, caf::timespan timeout) { return self->state.get(timeout, true); },
    [self](ready_atom) { return self->state.ready(); },
    [self](expire_atom, uint64_t id) { self->state.expire(id); },
  };
}

async_result_actor spawn_async_result(caf::actor_system& sys, size_t max_waiters) {
  return sys.spawn(async_result_impl, max_waiters);
}

} // namespace parley::gevent
