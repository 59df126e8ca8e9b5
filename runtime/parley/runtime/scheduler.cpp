#include "parley/runtime/scheduler.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/detail/thread_safe_actor_clock.hpp>
#include <caf/execution_unit.hpp>
#include <caf/logger.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
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
    // A send from a host's thread (anon_send from an I/O callback) stays there.
    if (current != nullptr && current->hosted && current->parent == this) {
      push(*current, job);
      request_run(*current);
      return;
    }
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
    auto clean = [](worker& w) {
      if (w.next != nullptr)
        cleanup_and_release(std::exchange(w.next, nullptr));
      for (auto job : w.queue)
        cleanup_and_release(job);
      w.queue.clear();
    };
    for (auto& w : workers_)
      clean(*w);
    std::lock_guard<std::mutex> guard{hosts_mtx_};
    for (auto& h : host_store_)
      clean(*h); // a host still in use when the system stops
    clock_.cancel_dispatch_loop();
    timer_.join();
  }

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
    bool hosted = false;             // an actor_host's thread, not ours
    std::atomic<bool> active{false}; // for a host: in use
    std::function<void()> request_run; // for a host: see host_actors()
    bool run_requested = false;        // for a host, on its thread
  };

private:

  static thread_local worker* current;

  void run(worker& me) {
    caf::logger::set_current_actor_system(&system());
    pthread_setname_np(pthread_self(), "parley.worker");
    system().thread_started();
    current = &me;
    while (auto job = dequeue(me))
      run_job(me, job);
    current = nullptr;
    system().thread_terminates();
  }

  void internal_enqueue(worker& me, job_ptr job) {
    if (current == &me) {
      if (me.next == nullptr && me.queued.load(std::memory_order_relaxed) == 0)
        me.next = job;
      else
        push(me, job);
      if (me.hosted)
        request_run(me); // a host runs its queue itself
      else if (me.next != job)
        notify();
      return;
    }
    // An actor's context used from another thread (a callback that sends):
    // not the run-next slot, which only its owner touches, and not a host,
    // which would not know.
    if (me.hosted) {
      enqueue(job);
      return;
    }
    push(me, job);
    notify();
  }

public:
  // -- actor hosts (see actor_host in scheduler.hpp) ---------------------------

  /// Jobs a host may have waiting before idle workers take half.
  static constexpr size_t host_backlog = 8;
  static constexpr size_t max_hosts = 16;

  worker* add_host(std::function<void()> request) {
    if (current != nullptr)
      return nullptr;
    std::lock_guard<std::mutex> guard{hosts_mtx_};
    worker* host = nullptr;
    for (size_t i = 0; i < host_count_.load() && host == nullptr; ++i)
      if (!hosts_[i].load()->active.load())
        host = hosts_[i].load();
    if (host == nullptr) {
      auto n = host_count_.load();
      if (n == max_hosts)
        return nullptr;
      host_store_.emplace_back(std::make_unique<worker>(this, workers_.size() + n));
      host = host_store_.back().get();
      host->hosted = true;
      hosts_[n].store(host);
      host_count_.store(n + 1);
    }
    host->request_run = std::move(request);
    host->run_requested = false;
    host->active.store(true);
    current = host;
    return host;
  }

  void run_host(worker& me, size_t budget) {
    me.run_requested = false;
    for (size_t i = 0; i < budget; ++i) {
      auto job = take_own(me);
      if (job == nullptr)
        return;
      run_job(me, job);
    }
    if (!host_pending(me))
      return;
    request_run(me);
    if (me.queued.load() >= host_backlog)
      notify(); // behind: let a sleeping worker come and take half
  }

  static void request_run(worker& me) {
    if (!me.run_requested) {
      me.run_requested = true;
      me.request_run();
    }
  }

  void remove_host(worker& me) {
    current = nullptr;
    auto& heir = *workers_.front();
    if (me.next != nullptr)
      push(heir, std::exchange(me.next, nullptr));
    {
      std::scoped_lock guard{me.mtx, heir.mtx};
      for (auto job : me.queue)
        heir.queue.push_back(job);
      heir.queued.fetch_add(me.queue.size());
      me.queued.fetch_sub(me.queue.size());
      me.queue.clear();
    }
    notify();
    me.request_run = nullptr;
    me.active.store(false);
  }

  static bool host_pending(const worker& me) noexcept {
    return me.next != nullptr || me.queued.load(std::memory_order_relaxed) > 0;
  }

private:
  void run_job(worker& me, job_ptr job) {
    switch (job->resume(&me, max_throughput())) {
      case caf::resumable::resume_later:
        push(me, job);
        if (me.hosted)
          request_run(me);
        else
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
      if (auto job = take_half(victim, me, 1))
        return job;
    }
    // A host runs its own queue; take from it only when it falls behind.
    for (size_t k = 0, hosts = host_count_.load(); k < hosts; ++k) {
      auto& host = *hosts_[k].load();
      if (host.queued.load(std::memory_order_relaxed) < host_backlog)
        continue;
      if (auto job = take_half(host, me, 0)) // leaves the host at least half
        return job;
    }
    return nullptr;
  }

  // Moves (size + round_up) / 2 jobs from the front of `victim`'s queue:
  // the first to return, the rest to the back of `me`'s.
  static job_ptr take_half(worker& victim, worker& me, size_t round_up) {
    std::scoped_lock guard{victim.mtx, me.mtx};
    auto take = (victim.queue.size() + round_up) / 2;
    if (take == 0)
      return nullptr;
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
  std::mutex hosts_mtx_;
  std::vector<std::unique_ptr<worker>> host_store_; // guarded by hosts_mtx_
  std::array<std::atomic<worker*>, max_hosts> hosts_{};
  std::atomic<size_t> host_count_{0};
  std::atomic<size_t> next_wake_{0};
  std::atomic<int> spinners_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false};
  caf::detail::thread_safe_actor_clock clock_;
  std::thread timer_;
};

thread_local affinity_scheduler::worker* affinity_scheduler::current = nullptr;

class host_handle final : public actor_host {
public:
  host_handle(affinity_scheduler& sched, affinity_scheduler::worker& me) : sched_(sched), me_(me) {
    // nop
  }
  ~host_handle() override {
    sched_.remove_host(me_);
  }
  bool pending() const noexcept override {
    return affinity_scheduler::host_pending(me_);
  }
  void run(size_t budget) override {
    sched_.run_host(me_, budget);
  }

private:
  affinity_scheduler& sched_;
  affinity_scheduler::worker& me_;
};

} // namespace

actor_host::~actor_host() = default;

std::unique_ptr<actor_host> host_actors(caf::actor_system& sys,
                                        std::function<void()> request_run) {
  auto* sched = dynamic_cast<affinity_scheduler*>(&sys.scheduler());
  if (sched == nullptr || !request_run)
    return nullptr;
  auto* me = sched->add_host(std::move(request_run));
  if (me == nullptr)
    return nullptr;
  return std::make_unique<host_handle>(*sched, *me);
}

const std::vector<std::string>& scheduler_policies() {
  static const std::vector<std::string> names{"affinity", "sharing", "stealing"};
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
