#include "parley/store/store_service.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <pthread.h>

namespace parley::store {

namespace {

const std::string stopped_error = "the history store is stopping";

} // namespace

store_service::store_service(std::unique_ptr<history_store> store, service_options opts)
  : store_(std::move(store)), opts_(opts), inline_(!store_->blocking()),
    next_trim_(std::chrono::steady_clock::now() + opts_.trim_interval) {
  if (!inline_) {
    // The threads start with every signal blocked (a thread inherits its
    // creator's mask): SIGTERM and SIGHUP are for the node's signal
    // watcher, not for a thread in the middle of a commit.
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    writer_ = std::thread{[this] { write_loop(); }};
    reader_ = std::thread{[this] { read_loop(); }};
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
}

store_service::~store_service() {
  stop();
}

void store_service::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_)
      return;
    stopping_ = true;
  }
  write_cv_.notify_all();
  read_cv_.notify_all();
  if (writer_.joinable())
    writer_.join();
  if (reader_.joinable())
    reader_.join();
}

void store_service::append(room_batch batch, commit_fn done) {
  std::unique_lock<std::mutex> guard{mtx_};
  if (stopping_) {
    guard.unlock();
    done(stopped_error, 0);
    return;
  }
  if (inline_) {
    std::vector<pending_append> group;
    group.push_back({std::move(batch), std::move(done)});
    commit_group(group);
    maybe_trim(false);
    return;
  }
  appends_.push_back({std::move(batch), std::move(done)});
  guard.unlock();
  write_cv_.notify_one();
}

void store_service::load(std::string room, size_t recent, load_fn done) {
  std::unique_lock<std::mutex> guard{mtx_};
  if (stopping_) {
    guard.unlock();
    done(nullptr, stopped_error);
    return;
  }
  pending_load job{std::move(room), recent, std::move(done)};
  if (inline_) {
    run_load(job);
    return;
  }
  loads_.push_back(std::move(job));
  guard.unlock();
  write_cv_.notify_one();
}

void store_service::read(std::string room, seq_t after, seq_t before, size_t limit, bool newest,
                         read_fn done) {
  std::unique_lock<std::mutex> guard{mtx_};
  if (stopping_) {
    guard.unlock();
    done(nullptr, stopped_error);
    return;
  }
  pending_read job{std::move(room), after, before, limit, newest, std::move(done)};
  if (inline_) {
    run_read(job);
    return;
  }
  reads_.push_back(std::move(job));
  guard.unlock();
  read_cv_.notify_one();
}

void store_service::write_loop() {
  std::vector<pending_append> group;
  std::vector<pending_load> loads;
  std::unique_lock<std::mutex> guard{mtx_};
  for (;;) {
    write_cv_.wait_until(guard, next_trim_, [this] {
      return stopping_ || !appends_.empty() || !loads_.empty();
    });
    // Everything that arrived while the last commit ran goes in this one.
    group.swap(appends_);
    loads.swap(loads_);
    for (auto& a : group)
      touched_.insert(a.batch.room);
    bool done = stopping_ && group.empty() && loads.empty();
    guard.unlock();
    if (!group.empty())
      commit_group(group);
    for (auto& job : loads)
      run_load(job);
    group.clear();
    loads.clear();
    guard.lock();
    if (done)
      break;
    if (!stopping_)
      maybe_trim(false);
  }
}

// Reads, and between them the checkpoints of the store's log (never on the
// writer's thread: a checkpoint there would hold up every commit).
void store_service::read_loop() {
  uint64_t checkpointed_at = 0; // commits when the last checkpoint ran
  auto next_checkpoint = std::chrono::steady_clock::now() + opts_.checkpoint_interval;
  std::unique_lock<std::mutex> guard{mtx_};
  for (;;) {
    read_cv_.wait_until(guard, next_checkpoint, [this] { return stopping_ || !reads_.empty(); });
    if (!reads_.empty()) {
      auto job = std::move(reads_.front());
      reads_.pop_front();
      guard.unlock();
      run_read(job);
      guard.lock();
    } else if (stopping_) {
      break;
    }
    auto now = std::chrono::steady_clock::now();
    if (now < next_checkpoint)
      continue;
    next_checkpoint = now + opts_.checkpoint_interval;
    auto commits = stats_.commits.load(std::memory_order_relaxed);
    if (commits == checkpointed_at)
      continue; // nothing new in the log
    checkpointed_at = commits;
    guard.unlock();
    try {
      store_->checkpoint();
      stats_.checkpoints.fetch_add(1, std::memory_order_relaxed);
    } catch (const store_error& e) {
      spdlog::debug("store: checkpoint failed (tried again later): {}", e.what());
    }
    guard.lock();
  }
}

void store_service::commit_group(std::vector<pending_append>& group) {
  std::vector<room_batch> batches;
  batches.reserve(group.size());
  uint64_t messages = 0;
  for (auto& a : group) {
    messages += a.batch.records.size();
    batches.push_back(std::move(a.batch));
  }
  auto start = std::chrono::steady_clock::now();
  std::string failure;
  try {
    store_->commit(batches);
  } catch (const store_error& e) {
    failure = e.what();
  }
  auto took = std::chrono::duration_cast<std::chrono::microseconds>(
    std::chrono::steady_clock::now() - start);
  if (!failure.empty()) {
    stats_.commit_failures.fetch_add(1, std::memory_order_relaxed);
    note_failure(failure);
    for (auto& a : group)
      a.done(failure, 0);
    return;
  }
  note_success();
  stats_.commits.fetch_add(1, std::memory_order_relaxed);
  stats_.commit_us.fetch_add(static_cast<uint64_t>(took.count()), std::memory_order_relaxed);
  stats_.batches.fetch_add(group.size(), std::memory_order_relaxed);
  stats_.last_group.store(group.size(), std::memory_order_relaxed);
  for (size_t i = 0; i < group.size(); ++i) {
    auto& b = batches[i];
    if (b.error.empty()) {
      stats_.messages.fetch_add(b.records.size(), std::memory_order_relaxed);
    } else {
      stats_.conflicts.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("store: {}", b.error);
    }
    group[i].done(b.error, b.fenced ? fenced : b.store_last_seq);
  }
  (void) messages;
}

void store_service::run_load(pending_load& job) {
  stats_.loads.fetch_add(1, std::memory_order_relaxed);
  try {
    auto head = store_->load(job.room, job.recent);
    job.done(&head, {});
  } catch (const store_error& e) {
    spdlog::warn("store: cannot load room {}: {}", job.room, e.what());
    job.done(nullptr, e.what());
  }
}

void store_service::run_read(pending_read& job) {
  stats_.reads.fetch_add(1, std::memory_order_relaxed);
  try {
    auto p = store_->read(job.room, job.after, job.before, job.limit, job.newest);
    job.done(&p, {});
  } catch (const store_error& e) {
    stats_.read_failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("store: cannot read room {}: {}", job.room, e.what());
    job.done(nullptr, e.what());
  }
}

// Runs retention when it is due (the caller holds `mtx_`; the trim itself
// runs without it, on the writer thread, or in place for an inline store).
void store_service::maybe_trim(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now < next_trim_)
    return;
  next_trim_ = now + opts_.trim_interval;
  std::vector<std::string> rooms{touched_.begin(), touched_.end()};
  touched_.clear();
  if (!inline_)
    mtx_.unlock();
  try {
    auto out = store_->trim(rooms, opts_.keep, wall_ms(), opts_.trim_budget);
    stats_.trimmed.fetch_add(out.removed, std::memory_order_relaxed);
    if (out.removed > 0)
      spdlog::debug("store: retention removed {} messages", out.removed);
    if (out.removed >= opts_.trim_budget)
      next_trim_ = std::chrono::steady_clock::now(); // more to do: go on soon
  } catch (const store_error& e) {
    spdlog::warn("store: retention failed (tried again later): {}", e.what());
  }
  if (!inline_)
    mtx_.lock();
}

// A failing store is logged once when it starts failing and once when it
// recovers, with the count in between, not once per refused publish.
void store_service::note_failure(const std::string& why) {
  if (failed_since_ok_++ == 0) {
    failing_since_ = std::chrono::steady_clock::now();
    failing_.store(true, std::memory_order_relaxed);
    spdlog::error("store: commit failed, refusing publishes with STORE_UNAVAILABLE until it "
                  "works again: {}", why);
  }
}

void store_service::note_success() {
  if (failed_since_ok_ == 0)
    return;
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - failing_since_);
  spdlog::warn("store: commits work again after {} failed commits in {:.1f} s", failed_since_ok_,
               secs.count());
  failed_since_ok_ = 0;
  failing_.store(false, std::memory_order_relaxed);
}

} // namespace parley::store
