#pragma once

/// @file
/// The threads a blocking store runs on, and group commit.
///
/// ```
///   rooms ──append──▶ [ queue ] ──▶ writer thread: one transaction for every
///         ──load────▶            │   batch queued while the last one ran,
///                                │   then the loads; retention in between
///         ──read────▶ [ queue ] ──▶ reader thread: history pages
/// ```
///
/// A batch is acknowledged (its callback runs) only after its transaction
/// committed, so throughput grows with load while latency stays one commit.
/// Loads run on the writer thread after the commits queued before them, so
/// a room that restarts sees everything its last incarnation committed.
/// Callbacks run on the service's threads: they must only hand the result
/// on (an actor message), never block. A store that does not block (the
/// memory store) runs in the caller's thread instead, callbacks included.

#include "parley/store/history_store.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

namespace parley::store {

/// Counters for /metrics.
struct store_stats {
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> commit_failures{0};
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> conflicts{0};
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> read_failures{0};
  std::atomic<uint64_t> loads{0};
  std::atomic<uint64_t> trimmed{0};
  std::atomic<uint64_t> checkpoints{0};
  /// Sum of commit times in microseconds (with `commits`: the mean).
  std::atomic<uint64_t> commit_us{0};
  /// Batches in the last commit (how much group commit grouped).
  std::atomic<uint64_t> last_group{0};
};

struct service_options {
  retention keep;
  /// How often retention runs.
  std::chrono::milliseconds trim_interval{std::chrono::seconds(10)};
  /// Most messages one retention pass removes (the next pass goes on).
  size_t trim_budget = 50'000;
  /// How often the reader's thread checkpoints the store's log while
  /// commits come in (history_store::checkpoint).
  std::chrono::milliseconds checkpoint_interval{200};
};

/// The `store_last_seq` of a commit refused because another node holds the
/// room now (room_batch::fenced): the room must stop, not retry.
constexpr seq_t fenced = ~seq_t{0};

class store_service {
public:
  /// Empty `error` on success; else why, and the store's last seq when the
  /// batch conflicted with what the store holds (`fenced` when another
  /// node holds the room; 0 otherwise).
  using commit_fn = std::function<void(const std::string& error, seq_t store_last_seq)>;
  using load_fn = std::function<void(room_head* head, const std::string& error)>;
  using read_fn = std::function<void(page* p, const std::string& error)>;

  store_service(std::unique_ptr<history_store> store, service_options opts = {});
  ~store_service();

  store_service(const store_service&) = delete;
  store_service& operator=(const store_service&) = delete;

  void append(room_batch batch, commit_fn done);
  void load(std::string room, size_t recent, load_fn done);
  void read(std::string room, seq_t after, seq_t before, size_t limit, bool newest,
            read_fn done);

  /// Finishes what is queued and joins the threads; later calls fail.
  void stop();

  const store_stats& stats() const {
    return stats_;
  }

  std::string describe() const {
    return store_->describe();
  }

  /// True for a store that does not block: calls run in the caller's
  /// thread and their callbacks before they return.
  bool in_place() const {
    return inline_;
  }

  /// The store is every node's (PostgreSQL): see history_store::shared.
  bool shared() const {
    return store_->shared();
  }

  /// See history_store::set_view, watch_ownership and forget.
  void set_view(const std::vector<std::string>& nodes) {
    store_->set_view(nodes);
  }
  void watch_ownership(std::function<void(std::vector<std::string>)> lost) {
    store_->watch_ownership(std::move(lost));
  }
  void forget(const std::string& room) {
    store_->forget(room);
  }

  /// True while the last commit failed.
  bool failing() const {
    return failing_.load(std::memory_order_relaxed);
  }

private:
  struct pending_append {
    room_batch batch;
    commit_fn done;
  };
  struct pending_load {
    std::string room;
    size_t recent;
    load_fn done;
  };
  struct pending_read {
    std::string room;
    seq_t after, before;
    size_t limit;
    bool newest;
    read_fn done;
  };

  void write_loop();
  void read_loop();
  void commit_group(std::vector<pending_append>& group);
  void run_load(pending_load& job);
  void run_read(pending_read& job);
  void maybe_trim(bool force);
  void note_failure(const std::string& why);
  void note_success();

  std::unique_ptr<history_store> store_;
  service_options opts_;
  bool inline_; // the store does not block: no threads
  store_stats stats_;
  std::atomic<bool> failing_{false};
  uint64_t failed_since_ok_ = 0;
  std::chrono::steady_clock::time_point failing_since_;

  std::mutex mtx_; // guards the queues and `stopping_`; inline stores too
  std::condition_variable write_cv_;
  std::condition_variable read_cv_;
  std::vector<pending_append> appends_;
  std::vector<pending_load> loads_;
  std::deque<pending_read> reads_;
  bool stopping_ = false;
  std::set<std::string> touched_; // rooms appended to since the last trim
  std::chrono::steady_clock::time_point next_trim_;
  std::thread writer_;
  std::thread reader_;
};

} // namespace parley::store
