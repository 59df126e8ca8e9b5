#include "parley/gevent/join_all.hpp"

#include <caf/actor_system.hpp>
#include <caf/sec.hpp>

#include <exception>

namespace parley::gevent {

namespace {

caf::expected<int64_t> run_body(const task_fn& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error, std::string{e.what()});
  } catch (...) {
    return caf::make_error(caf::sec::runtime_error, std::string{"unknown exception"});
  }
}

} // namespace

void task_state::init(task_fn fn, caf::timespan delay) {
  fn_ = std::move(fn);
  if (delay > caf::timespan{0})
    self_->delayed_send(self_, delay, expire_atom::value);
  else
    finish();
}

void task_state::finish() {
  result_ = run_body(fn_);
  for (auto& rp : waiters_) {
    if (*result_)
      rp.deliver(**result_);
    else
      rp.deliver(result_->error());
  }
  waiters_.clear();
}

caf::result<int64_t> task_state::join() {
  if (result_)
    return *result_;
  auto rp = self_->make_response_promise<int64_t>();
  waiters_.push_back(rp);
  return rp;
}

void task_state::expire() {
  if (!result_)
    finish();
}

timed_task_actor::behavior_type task_impl(task_state::pointer self, task_fn fn,
                                          caf::timespan delay) {
  self->state.init(std::move(fn), delay);
  return {
    [self](join_atom) { return self->state.join(); },
    [self](expire_atom) { self->state.expire(); },
  };
}

task_actor spawn_task(caf::actor_system& sys, task_fn fn, caf::timespan delay) {
  return sys.spawn(task_impl, std::move(fn), delay);
}

joiner_actor::behavior_type joiner_impl(joiner_actor::pointer self, size_t max_tasks) {
  return {
    [self, max_tasks](join_atom, const task_list& tasks,
                      caf::timespan deadline) -> caf::result<outcome_list> {
      if (tasks.size() > max_tasks)
        return runtime::make_error(runtime::errc::capacity_exceeded,
                                   "a join takes at most " + std::to_string(max_tasks)
                                     + " tasks, got " + std::to_string(tasks.size()));
      if (deadline <= caf::timespan{0})
        return runtime::make_error(runtime::errc::invalid_argument,
                                   "join deadline must be positive, got " + to_text(deadline));
      auto rp = self->make_response_promise<outcome_list>();
      join_all(self, tasks, deadline, [rp](outcome_list xs) mutable { rp.deliver(std::move(xs)); });
      return rp;
    },
  };
}

joiner_actor spawn_joiner(caf::actor_system& sys, size_t max_tasks) {
  return sys.spawn(joiner_impl, max_tasks);
}

} // namespace parley::gevent
