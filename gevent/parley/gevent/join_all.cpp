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

timed_task_actor::behavior_type task_impl(timed_task_actor::stateful_pointer<task_state> self,
                                          task_fn fn, caf::timespan delay) {
  auto finish = [self, fn] {
    auto& st = self->state;
    st.result = run_body(fn);
    for (auto& rp : st.waiters) {
      if (*st.result)
        rp.deliver(**st.result);
      else
        rp.deliver(st.result->error());
    }
    st.waiters.clear();
  };
  if (delay > caf::timespan{0})
    self->delayed_send(self, delay, expire_atom::value);
  else
    finish();
  return {
    [self](join_atom) -> caf::result<int64_t> {
      auto& st = self->state;
      if (st.result)
        return *st.result;
      auto rp = self->make_response_promise<int64_t>();
      st.waiters.push_back(rp);
      return rp;
    },
    [self, finish](expire_atom) {
      if (!self->state.result)
        finish();
    },
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
