#include "parley/runtime/scheduler.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/detail/thread_safe_actor_clock.hpp>
#include <caf/execution_unit.hpp>
#include <caf/logger.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include <pthread.h>

namespace parley::runtime {

namespace {

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

using job_ptr = caf::resumable*;

/// Parley's scheduler (see scheduler.hpp), a CAF 0.17 coordinator of its own
/// rather than a policy for CAF's `coordinator<Policy>`: CAF's worker loop
/// pays a dynamic_cast and a logger update for every job it runs (CAF's
/// log macros are compiled into Debian's build), 15-20 % of a ping-pong's
/// time in perf, so the loop here is written without them.
///
/// - Each worker has a queue: it takes from the front; an idle worker takes
///   half of another's queue at once, from the front, under its lock, so a
///   steal costs O(1) per job (0.17's work stealing walks the victim's list).
/// - An actor woken by an actor running on a worker goes to that worker. If
///   the worker has nothing else queued, it goes to a slot of its own that
///   runs next and that nobody steals: a request/reply pair stays on one
///   thread and in its cache, with no wake-up, as Erlang's same-scheduler
///   ping-pong does. If the worker has other work queued, the woken actor
///   queues behind it, so a fan-out's replier reads many replies per run
///   instead of one.
/// - An idle worker spins (`spin` below) before it sleeps; work that appears
///   while anyone spins wakes nobody. Work queued while nobody spins wakes
///   one sleeper; the last spinner to find work wakes another if work is
///   left, so a burst spreads over the workers.
///
/// Trade-off: the run-next slot waits for the job its worker is running. A
/// behaviour that blocks its thread (it should not) delays the one actor it
/// woke last by as long, unless that worker has queued work too.
class affinity_scheduler final : public caf::scheduler::abstract_coordinator {
public:
  /// How long an idle worker looks for work before it sleeps.
  static constexpr std::chrono::microseconds spin{50};

  explicit affinity_scheduler(caf::actor_system& sys) : abstract_coordinator(sys) {
    // nop
  }

  void enqueue(caf::resumable* job) override {
    auto n = workers_.size();
    auto& w = *workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % n];
    push(w, job);
    notify();
  }

  caf::detail::thread_safe_actor_clock& clock() noexcept override {
    return clock_;
  }

  void start() override {
    auto n = num_workers() == 0 ? size_t{1} : num_workers();
    workers_.reserve(n);
    for (size_t i = 0; i < n; ++i)
      workers_.emplace_back(std::make_unique<worker>(this, i));
    for (auto& w : workers_)
      w->thread = std::thread{[this, ptr = w.get()] { run(*ptr); }};
    timer_ = std::thread{[this] {
      caf::logger::set_current_actor_system(&system());
      pthread_setname_np(pthread_self(), "parley.clock");
      system().thread_started();
      clock_.run_dispatch_loop();
      system().thread_terminates();
    }};
    abstract_coordinator::start();
  }

  void stop() override {
    // Every actor is done by now (the actor system waits for them before it
    // stops its modules); the workers leave once they find nothing to do.
    stopping_.store(true);
    for (auto& w : workers_)
      wake(*w, true);
    for (auto& w : workers_)
      w->thread.join();
    stop_actors();
    for (auto& w : workers_) {
      if (w->next != nullptr)
        cleanup_and_release(std::exchange(w->next, nullptr));
      for (auto job : w->queue)
        cleanup_and_release(job);
      w->queue.clear();
    }
    clock_.cancel_dispatch_loop();
    timer_.join();
  }

private:
  struct worker final : caf::execution_unit {
    worker(affinity_scheduler* owner, size_t index)
      : caf::execution_unit(&owner->system()), parent(owner), id(index),
        rng(0x9e3779b9u * static_cast<uint32_t>(index + 1)) {
      // nop
    }

    void exec_later(caf::resumable* job) override {
      parent->internal_enqueue(*this, job);
    }

    affinity_scheduler* parent;
    size_t id;
    std::mutex mtx;
    std::deque<job_ptr> queue;     // guarded by mtx
    std::atomic<size_t> queued{0}; // queue.size(), readable without mtx
    job_ptr next = nullptr;        // read and written by this worker's thread only
    std::mutex sleep_mtx;
    std::condition_variable cv;
    bool asleep = false; // guarded by sleep_mtx
    bool woken = false;  // guarded by sleep_mtx
    uint32_t rng;
    std::thread thread;
  };

  static thread_local worker* current;

  void run(worker& me) {
    caf::logger::set_current_actor_system(&system());
    pthread_setname_np(pthread_self(), "parley.worker");
    system().thread_started();
    current = &me;
    auto throughput = max_throughput();
    while (auto job = dequeue(me)) {
      switch (job->resume(&me, throughput)) {
        case caf::resumable::resume_later:
          push(me, job);
          notify();
          break;
        case caf::resumable::done:
        case caf::resumable::awaiting_message:
          intrusive_ptr_release(job);
          break;
        case caf::resumable::shutdown_execution_unit:
          break; // nothing here asks for it
      }
    }
    current = nullptr;
    system().thread_terminates();
  }

  void internal_enqueue(worker& me, job_ptr job) {
    // Only the worker's own thread may use its run-next slot: an actor's
    // context can be used from another thread (a callback that sends).
    if (current == &me && me.next == nullptr && me.queued.load(std::memory_order_relaxed) == 0) {
      me.next = job;
      return;
    }
    push(me, job);
    notify();
  }

  static void push(worker& w, job_ptr job) {
    std::lock_guard<std::mutex> guard{w.mtx};
    w.queue.push_back(job);
    w.queued.fetch_add(1); // seq_cst: before notify()'s loads
  }

  static job_ptr take_own(worker& me) {
    if (me.next != nullptr)
      return std::exchange(me.next, nullptr);
    if (me.queued.load(std::memory_order_relaxed) == 0)
      return nullptr;
    std::lock_guard<std::mutex> guard{me.mtx};
    if (me.queue.empty())
      return nullptr;
    auto job = me.queue.front();
    me.queue.pop_front();
    me.queued.fetch_sub(1, std::memory_order_relaxed);
    return job;
  }

  // Takes half of another worker's queue: the first job to run now, the rest
  // into this worker's queue.
  job_ptr steal(worker& me) {
    auto n = workers_.size();
    if (n < 2)
      return nullptr;
    me.rng = me.rng * 1664525u + 1013904223u;
    auto start = static_cast<size_t>(me.rng >> 8) % n;
    for (size_t k = 0; k < n; ++k) {
      auto& victim = *workers_[(start + k) % n];
      if (&victim == &me || victim.queued.load(std::memory_order_relaxed) == 0)
        continue;
      std::scoped_lock guard{victim.mtx, me.mtx};
      auto size = victim.queue.size();
      if (size == 0)
        continue;
      auto take = (size + 1) / 2;
      auto job = victim.queue.front();
      victim.queue.pop_front();
      for (size_t i = 1; i < take; ++i) {
        me.queue.push_back(victim.queue.front());
        victim.queue.pop_front();
      }
      victim.queued.fetch_sub(take);
      me.queued.fetch_add(take - 1);
      return job;
    }
    return nullptr;
  }

  // The next job for `me`, or nullptr once the scheduler stops.
  job_ptr dequeue(worker& me) {
    if (auto job = take_own(me))
      return job;
    for (;;) {
      spinners_.fetch_add(1);
      auto deadline = std::chrono::steady_clock::now() + spin;
      job_ptr job = nullptr;
      for (unsigned i = 1;; ++i) {
        if ((job = take_own(me)) != nullptr || (job = steal(me)) != nullptr)
          break;
        if (i % 64 == 0 && std::chrono::steady_clock::now() >= deadline)
          break;
        cpu_relax();
      }
      auto left = spinners_.fetch_sub(1) - 1;
      if (job != nullptr) {
        if (left == 0 && sleepers_.load() > 0 && any_queued())
          wake_one();
        return job;
      }
      if (stopping_.load())
        return nullptr;
      sleep(me);
    }
  }

  bool any_queued() const {
    for (auto& w : workers_)
      if (w->queued.load() > 0)
        return true;
    return false;
  }

  // After queuing a job: wake a sleeper unless someone spins (and will find it).
  void notify() {
    if (spinners_.load() == 0 && sleepers_.load() > 0)
      wake_one();
  }

  void wake_one() {
    auto n = workers_.size();
    auto start = next_wake_.fetch_add(1, std::memory_order_relaxed);
    for (size_t k = 0; k < n; ++k)
      if (wake(*workers_[(start + k) % n], false))
        return;
  }

  bool wake(worker& w, bool always) {
    std::unique_lock<std::mutex> guard{w.sleep_mtx};
    if (!w.asleep || w.woken) {
      if (always)
        w.woken = true; // a worker about to sleep sees it and stays up
      return false;
    }
    w.woken = true;
    sleepers_.fetch_sub(1);
    guard.unlock();
    w.cv.notify_one();
    return true;
  }

  void sleep(worker& me) {
    {
      std::lock_guard<std::mutex> guard{me.sleep_mtx};
      me.asleep = true;
      me.woken = false;
    }
    sleepers_.fetch_add(1); // seq_cst: before any_queued()'s loads
    std::unique_lock<std::mutex> guard{me.sleep_mtx};
    if (any_queued() || stopping_.load()) {
      // A waker that chose this worker meanwhile took it off the count.
      if (!me.woken)
        sleepers_.fetch_sub(1);
      me.asleep = false;
      return;
    }
    me.cv.wait(guard, [&] { return me.woken; });
    me.asleep = false;
  }

  std::vector<std::unique_ptr<worker>> workers_;
  std::atomic<size_t> next_wake_{0};
  std::atomic<int> spinners_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false};
  caf::detail::thread_safe_actor_clock clock_;
  std::thread timer_;
};

thread_local affinity_scheduler::worker* affinity_scheduler::current = nullptr;

} // namespace

const std::vector<std::string>& scheduler_policies() {
  static const std::vector<std::string> names{"sharing", "stealing", "affinity"};
  return names;
}

void use_scheduler(caf::actor_system_config& cfg, std::string_view policy) {
  if (policy == "affinity") {
    cfg.module_factories.push_back([](caf::actor_system& sys) -> caf::actor_system::module* {
      return new affinity_scheduler(sys);
    });
    return;
  }
  cfg.set("scheduler.policy", caf::atom_from_string(std::string{policy}));
}

} // namespace parley::runtime
