#pragma once

/// @file
/// gevent.pool.Pool as an actor: runs tasks over a list of inputs, at most
/// `size` at once across all requests.
///
/// For each input the pool spawns a task (a greenlet) with the factory it
/// was given, when a slot is free, and joins it. `map` answers with the
/// values in input order, or with the first error; `imap` (gevent's
/// `imap_unordered`) sends each outcome to a sink as soon as its task ends
/// and then answers with the count. Inputs wait in one FIFO, so requests
/// share the slots fairly in arrival order.

#include "parley/gevent/atoms.hpp"
#include "parley/gevent/join_all.hpp"

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

namespace caf {
class actor_system;
} // namespace caf

namespace parley::gevent {

/// Spawns the task for one input. Returning an invalid handle, or throwing,
/// fails that input.
using task_factory = std::function<task_actor(caf::actor_system&, int64_t)>;

/// Receives `imap` results: the index of the input in its request, and its
/// outcome.
using result_sink = caf::typed_actor<caf::reacts_to<result_atom, uint64_t, outcome>>;

/// What the pool is doing, for tests and dashboards.
struct pool_stats {
  /// Tasks running now.
  uint64_t running = 0;
  /// The most tasks that ever ran at once; never above the pool's size.
  uint64_t peak = 0;
  /// Inputs waiting for a slot.
  uint64_t queued = 0;
  /// Tasks that ended, successfully or not.
  uint64_t completed = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pool_stats& x) {
  return f(caf::meta::type_name("parley.pool_stats"), x.running, x.peak, x.queued, x.completed);
}

struct pool_config {
  /// At most this many tasks run at once (`Pool(size)`); 0 is refused.
  size_t size = 0;
  /// A task that has not ended after this long fails with `errc::timeout`
  /// and frees its slot (it keeps running, unjoined). Zero: no deadline.
  caf::timespan task_timeout{0};
  /// Inputs that may wait for a slot; a request that would queue more is
  /// refused with `errc::capacity_exceeded`, so a flood cannot grow the
  /// pool's memory without bound.
  size_t max_queued = 10'000;
};

using pool_actor = caf::typed_actor<
  /// Runs a task per input; answered with the values in input order, or
  /// with the first error a task ended with. After an error the inputs of
  /// that request still waiting are dropped (running tasks run on).
  caf::replies_to<map_atom, std::vector<int64_t>>::with<std::vector<int64_t>>,
  /// Runs a task per input and sends each `(index, outcome)` to the sink as
  /// it ends; answered with the number of outcomes sent, after the last one.
  caf::replies_to<imap_atom, std::vector<int64_t>, result_sink>::with<uint64_t>,
  caf::replies_to<stats_atom>::with<pool_stats>>;

/// The state of one pool; runs inside the pool actor.
class pool_state {
public:
  using pointer = pool_actor::stateful_pointer<pool_state>;

  static inline const char* name = "parley.pool";

  explicit pool_state(pointer self) : self_(self) {
    // nop
  }

  void init(pool_config cfg, task_factory make_task) {
    cfg_ = cfg;
    make_task_ = std::move(make_task);
  }

  caf::result<std::vector<int64_t>> map(std::vector<int64_t> inputs);
  caf::result<uint64_t> imap(std::vector<int64_t> inputs, result_sink sink);

  const pool_stats& stats() {
    stats_.queued = queue_.size();
    return stats_;
  }

private:
  /// One map or imap request.
  struct batch {
    caf::typed_response_promise<std::vector<int64_t>> map_promise; // map only
    caf::typed_response_promise<uint64_t> imap_promise;           // imap only
    result_sink sink;                                              // imap only
    std::vector<int64_t> values;                                   // map only
    size_t remaining = 0;
    size_t total = 0;
    bool is_map = true;
  };

  struct job {
    uint64_t batch;
    uint64_t index;
    int64_t input;
  };

  caf::error admit(const std::vector<int64_t>& inputs, uint64_t batch_id);
  /// Starts waiting jobs while slots are free.
  void start_jobs();
  /// Spawns and joins the task of `j`; its outcome at once if that failed.
  std::optional<outcome> start(const job& j);
  /// Books the outcome of `j` and answers its request when that is complete.
  void complete(const job& j, outcome x);

  pointer self_;
  pool_config cfg_;
  task_factory make_task_;
  pool_stats stats_;
  std::deque<job> queue_;
  uint64_t next_batch_ = 1;
  std::unordered_map<uint64_t, batch> batches_;
};

pool_actor::behavior_type pool_impl(pool_state::pointer self, pool_config cfg,
                                    task_factory make_task);

/// Spawns a pool; a size of 0, a negative task timeout or an empty factory
/// is refused with `errc::invalid_argument`.
caf::expected<pool_actor> spawn_pool(caf::actor_system& sys, pool_config cfg,
                                     task_factory make_task);

} // namespace parley::gevent
