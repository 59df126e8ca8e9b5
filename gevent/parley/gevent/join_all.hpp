#pragma once

/// @file
/// gevent.spawn and gevent.joinall: one-shot task actors (greenlets) and a
/// join that collects each task's outcome, value or error, by a deadline.
///
/// ```cpp
/// auto tasks = task_list{spawn_task(sys, [] { return 1; }),
///                        spawn_task(sys, [] { return fail(); })};
/// self->request(joiner, caf::infinite, join_atom::value, tasks, 2s)
///   .then([](outcome_list& xs) { /* xs[0].value, xs[1].error */ });
/// ```

#include "parley/gevent/atoms.hpp"
#include "parley/gevent/limits.hpp"
#include "parley/gevent/timeout.hpp"
#include "parley/runtime/errc.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace caf {
class actor_system;
} // namespace caf

namespace parley::gevent {

// -- outcomes ---------------------------------------------------------------------

/// How one task ended: gevent's `Greenlet.value`, `.exception` and
/// `.successful()`. `value` is 0 unless the task succeeded.
struct outcome {
  int64_t value = 0;
  caf::error error;

  bool successful() const {
    return !error;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outcome& x) {
  return f(caf::meta::type_name("parley.outcome"), x.value, x.error);
}

using outcome_list = std::vector<outcome>;

// -- tasks (greenlets) ------------------------------------------------------------

/// A task: answers `join` with its value, or with the error it ended with,
/// once it is done; every asker gets the same answer (`Greenlet.get()`).
/// Any actor with this interface can be joined; `spawn_task` makes one from
/// a function.
using task_actor = caf::typed_actor<caf::replies_to<join_atom>::with<int64_t>>;

using task_list = std::vector<task_actor>;

/// A task's body. Returns its value or an error; a thrown exception ends the
/// task with `sec::runtime_error` and the exception's message.
using task_fn = std::function<caf::expected<int64_t>()>;

/// A task's interface inside: `expire` starts the body after its delay.
using timed_task_actor = task_actor::extend<caf::reacts_to<expire_atom>>;

/// The state of one task; runs only inside the task actor.
class task_state {
public:
  using pointer = timed_task_actor::stateful_pointer<task_state>;

  static inline const char* name = "parley.task";

  explicit task_state(pointer self) : self_(self) {
    // nop
  }

  /// Runs `fn` now, or after `delay`.
  void init(task_fn fn, caf::timespan delay);

  /// The outcome, now or once the body ran.
  caf::result<int64_t> join();

  /// The delay is over: runs the body (once).
  void expire();

private:
  void finish();

  pointer self_;
  task_fn fn_;
  std::optional<caf::expected<int64_t>> result_;
  std::vector<caf::typed_response_promise<int64_t>> waiters_;
};

timed_task_actor::behavior_type task_impl(task_state::pointer self, task_fn fn,
                                          caf::timespan delay);

/// gevent.spawn: a task that runs `fn` as soon as it is scheduled, or after
/// `delay` (without blocking a thread, like `gevent.sleep(delay)` before the
/// body). The task lives while someone holds its handle; once done, it keeps
/// its outcome for every later `join`.
task_actor spawn_task(caf::actor_system& sys, task_fn fn,
                      caf::timespan delay = caf::timespan{0});

// -- joining ----------------------------------------------------------------------

/// Called once with every task's outcome, in the order of the tasks.
using join_handler = std::function<void(outcome_list)>;

/// gevent.joinall inside an event-based actor: asks every task in `tasks`
/// to `join` and calls `done` once each has answered or `deadline` passed.
/// A task still running at the deadline gets `errc::timeout` as its outcome
/// and keeps running (gevent does not kill it either); an invalid handle
/// gets `errc::invalid_argument`. `deadline` must be positive.
template <class Self>
void join_all(Self* self, const task_list& tasks, caf::timespan deadline, join_handler done) {
  struct join_state {
    outcome_list outcomes;
    size_t pending;
    join_handler done;

    void finish_one() {
      if (--pending == 0)
        done(std::move(outcomes));
    }
  };
  if (tasks.empty()) {
    done({});
    return;
  }
  auto st = std::make_shared<join_state>(
    join_state{outcome_list(tasks.size()), tasks.size(), std::move(done)});
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (!tasks[i]) {
      st->outcomes[i].error = runtime::make_error(runtime::errc::invalid_argument,
                                                  "task " + std::to_string(i)
                                                    + " is not a valid handle");
      st->finish_one();
      continue;
    }
    request_within<int64_t>(
      self, tasks[i], deadline, "task " + std::to_string(i),
      [st, i](caf::expected<int64_t> x) {
        if (x)
          st->outcomes[i].value = *x;
        else
          st->outcomes[i].error = std::move(x.error());
        st->finish_one();
      },
      join_atom::value);
  }
}

/// A service that joins task lists for callers outside an actor (a test,
/// `main`): `join tasks deadline` answers with the outcomes, as `join_all`.
/// Serves any number of joins at once. A deadline that is not positive is
/// refused with `errc::invalid_argument`, a join of more than `max_tasks`
/// tasks with `errc::capacity_exceeded`.
using joiner_actor = caf::typed_actor<
  caf::replies_to<join_atom, task_list, caf::timespan>::with<outcome_list>>;

joiner_actor::behavior_type joiner_impl(joiner_actor::pointer self, size_t max_tasks);

joiner_actor spawn_joiner(caf::actor_system& sys, size_t max_tasks = default_max_join);

} // namespace parley::gevent
