#include "parley/gevent/pool.hpp"

#include "parley/gevent/timeout.hpp"
#include "parley/runtime/errc.hpp"

#include <caf/actor_system.hpp>
#include <caf/duration.hpp>
#include <caf/sec.hpp>

#include <algorithm>
#include <exception>

namespace parley::gevent {

using runtime::errc;

caf::error pool_state::admit(const std::vector<int64_t>& inputs, uint64_t batch_id) {
  if (queue_.size() + inputs.size() > cfg_.max_queued)
    return runtime::make_error(errc::capacity_exceeded,
                               "pool queue holds at most " + std::to_string(cfg_.max_queued)
                                 + " inputs; " + std::to_string(queue_.size())
                                 + " wait, asked for " + std::to_string(inputs.size()));
  for (uint64_t i = 0; i < inputs.size(); ++i)
    queue_.push_back(job{batch_id, i, inputs[i]});
  return {};
}

caf::result<std::vector<int64_t>> pool_state::map(std::vector<int64_t> inputs) {
  if (inputs.empty())
    return std::vector<int64_t>{};
  auto id = next_batch_++;
  if (auto err = admit(inputs, id))
    return err;
  auto& b = batches_[id];
  b.is_map = true;
  b.values.resize(inputs.size());
  b.remaining = inputs.size();
  b.map_promise = self_->make_response_promise<std::vector<int64_t>>();
  auto result = b.map_promise;
  start_jobs();
  return result;
}

caf::result<uint64_t> pool_state::imap(std::vector<int64_t> inputs, result_sink sink) {
  if (!sink)
    return runtime::make_error(errc::invalid_argument, std::string{"imap needs a valid sink"});
  if (inputs.empty())
    return uint64_t{0};
  auto id = next_batch_++;
  if (auto err = admit(inputs, id))
    return err;
  auto& b = batches_[id];
  b.is_map = false;
  b.sink = std::move(sink);
  b.remaining = inputs.size();
  b.total = inputs.size();
  b.imap_promise = self_->make_response_promise<uint64_t>();
  auto result = b.imap_promise;
  start_jobs();
  return result;
}

void pool_state::start_jobs() {
  while (stats_.running < cfg_.size && !queue_.empty()) {
    auto j = queue_.front();
    queue_.pop_front();
    // The inputs of a map that failed already are dropped.
    if (batches_.count(j.batch) == 0)
      continue;
    // A failed start is booked here, not inside start(): a loop instead of a
    // recursion as deep as the queue.
    if (auto failed = start(j))
      complete(j, std::move(*failed));
  }
}

std::optional<outcome> pool_state::start(const job& j) {
  ++stats_.running;
  stats_.peak = std::max(stats_.peak, stats_.running);
  task_actor task;
  auto what = "task for input " + std::to_string(j.index);
  try {
    task = make_task_(self_->system(), j.input);
  } catch (const std::exception& e) {
    return outcome{0, caf::make_error(caf::sec::runtime_error, std::string{e.what()})};
  } catch (...) {
    return outcome{0, caf::make_error(caf::sec::runtime_error, std::string{"unknown exception"})};
  }
  if (!task)
    return outcome{0, runtime::make_error(errc::invalid_argument,
                                          what + ": the factory made no task")};
  auto on_value = [this, j](int64_t x) {
    complete(j, outcome{x, {}});
    start_jobs();
  };
  auto timeout = cfg_.task_timeout;
  auto on_error = [this, j, what, timeout](caf::error& err) {
    complete(j, outcome{0, map_timeout(std::move(err), what, timeout)});
    start_jobs();
  };
  if (timeout > caf::timespan{0})
    self_->request(task, timeout, join_atom::value).then(on_value, on_error);
  else
    self_->request(task, caf::infinite, join_atom::value).then(on_value, on_error);
  return std::nullopt;
}

void pool_state::complete(const job& j, outcome x) {
  --stats_.running;
  ++stats_.completed;
  auto i = batches_.find(j.batch);
  if (i != batches_.end()) {
    auto& b = i->second;
    if (b.is_map) {
      if (!x.successful()) {
        b.map_promise.deliver(std::move(x.error));
        batches_.erase(i);
      } else {
        b.values[j.index] = x.value;
        if (--b.remaining == 0) {
          b.map_promise.deliver(std::move(b.values));
          batches_.erase(i);
        }
      }
    } else {
      self_->send(b.sink, result_atom::value, j.index, std::move(x));
      if (--b.remaining == 0) {
        b.imap_promise.deliver(static_cast<uint64_t>(b.total));
        batches_.erase(i);
      }
    }
  }
}

pool_actor::behavior_type pool_impl(pool_state::pointer self, pool_config cfg,
                                    task_factory make_task) {
  self->state.init(cfg, std::move(make_task));
  return {
    [self](map_atom, std::vector<int64_t>& inputs) { return self->state.map(std::move(inputs)); },
    [self](imap_atom, std::vector<int64_t>& inputs, result_sink& sink) {
      return self->state.imap(std::move(inputs), std::move(sink));
    },
    [self](stats_atom) { return self->state.stats(); },
  };
}

caf::expected<pool_actor> spawn_pool(caf::actor_system& sys, pool_config cfg,
                                     task_factory make_task) {
  if (cfg.size == 0)
    return runtime::make_error(errc::invalid_argument, std::string{"pool size must be at least 1"});
  if (cfg.task_timeout < caf::timespan{0})
    return runtime::make_error(errc::invalid_argument,
                               "negative task timeout " + to_text(cfg.task_timeout));
  if (!make_task)
    return runtime::make_error(errc::invalid_argument, std::string{"pool needs a task factory"});
  return sys.spawn(pool_impl, cfg, std::move(make_task));
}

} // namespace parley::gevent
