#pragma once

/// @file
/// Where rooms keep their history: one interface, three stores (memory,
/// SQLite, and PostgreSQL for a cluster), chosen with `--store`.
///
/// The interface is synchronous on purpose: a store is called by the
/// threads of a `store_service` (store_service.hpp), never by CAF's
/// scheduler threads, except a store that says it never blocks (the memory
/// store), which rooms may call in place. A store keeps, per room, the last
/// seq it gave out (which outlives retention) and the messages retention
/// has not removed yet. Nothing here knows CAF: the stores build and are
/// tested without it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace parley::store {

using seq_t = uint64_t;

/// One stored message.
struct record {
  seq_t seq = 0;
  std::string sender;
  std::string text;
  std::string body;
  int64_t sent_ms = 0;
  /// The publish's idempotency key (the user's and the client's id; empty:
  /// none).
  std::string key = {};
};

/// How many of a room's newest keyed publishes a room remembers (and a
/// store loads) to acknowledge a retry with the first one's seq.
constexpr size_t publish_id_window = 10'000;

/// What a room starts from: the last seq given out and the newest messages.
struct room_head {
  seq_t last_seq = 0;
  /// The fencing epoch this load took the room's ownership with, for a
  /// store that arbitrates ownership (PostgreSQL); 0 for the others. Every
  /// batch of the room carries it: once another node took the room (a
  /// higher epoch), the store refuses them.
  uint64_t epoch = 0;
  /// The newest messages, oldest first (at most as many as asked for).
  std::vector<record> recent;
  /// The keys of the room's newest keyed messages (at most
  /// `publish_id_window`), with their seqs, oldest first.
  std::vector<std::pair<std::string, seq_t>> keys;
};

/// Messages of a room in a seq range, oldest first.
struct page {
  std::vector<record> records;
  /// The oldest seq the store still holds for the room (last seq + 1 if it
  /// holds none): wanted seqs below it were removed by retention.
  seq_t oldest = 1;
  seq_t last_seq = 0;
};

/// A room's messages to commit, in one group commit with others.
struct room_batch {
  std::string room;
  /// Seqs strictly increasing; the first must be past the room's last seq
  /// (else the batch is refused as a conflict: another writer got there).
  std::vector<record> records;
  /// The room's last seq after this batch (the last record's, or more when
  /// a room adopts a seq from elsewhere without its messages).
  seq_t last_seq = 0;
  /// The room's epoch from its load (room_head::epoch).
  uint64_t epoch = 0;
  /// Filled by `commit`: empty when the batch is in, else why not.
  std::string error;
  /// Filled by `commit`: the batch was refused because another node holds
  /// the room now (its epoch is past this batch's); the room must stop.
  bool fenced = false;
  /// Filled by `commit` on a conflict: the store's last seq for the room.
  seq_t store_last_seq = 0;
};

/// How long history lasts, per room; zero: no limit.
struct retention {
  /// Messages kept per room (the newest).
  uint64_t max_messages = 10'000;
  /// Messages older than this are removed.
  std::chrono::seconds max_age{std::chrono::hours(24 * 30)};
};

/// A store that cannot do what was asked right now (full, read-only,
/// locked, unreachable). The request may succeed later.
struct store_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// What one `trim` removed.
struct trim_result {
  uint64_t removed = 0;
};

class history_store {
public:
  virtual ~history_store() = default;

  /// "sqlite /path/to/history.db", "memory", ...
  virtual std::string describe() const = 0;

  /// False for a store that never blocks on I/O (memory): callers may run
  /// it on any thread, in place.
  virtual bool blocking() const = 0;

  /// The room's last seq and its newest `recent` messages. Throws
  /// store_error.
  virtual room_head load(const std::string& room, size_t recent) = 0;

  /// Commits the batches in one transaction: each batch is in, or refused
  /// with its `error` set (a conflict refuses its batch only). Throws
  /// store_error when the transaction as a whole fails (nothing is in).
  virtual void commit(std::vector<room_batch>& batches) = 0;

  /// Messages with after < seq < before (before 0: no bound), at most
  /// `limit`: the newest of them if `newest`, else the oldest. Throws
  /// store_error.
  virtual page read(const std::string& room, seq_t after, seq_t before, size_t limit,
                    bool newest) = 0;

  /// Applies retention to `rooms` (by count) and to every room (by age),
  /// removing at most `budget` messages in one go. Throws store_error.
  virtual trim_result trim(const std::vector<std::string>& rooms, const retention& keep,
                           int64_t now_ms, size_t budget) = 0;

  /// True for a store every node of a cluster shares (PostgreSQL): it is
  /// the truth about a room's seq, and what other nodes remember of a room
  /// is never newer.
  virtual bool shared() const {
    return false;
  }

  /// The nodes of the cluster this node sees now, itself included, for a
  /// store that arbitrates ownership (may be called from any thread).
  virtual void set_view(const std::vector<std::string>& nodes) {
    (void) nodes;
  }

  /// For a store that arbitrates ownership: `lost` is called (from a
  /// thread of the store) with the rooms this node loaded that another
  /// node took over while this one could not renew its lease (it hung, or
  /// was cut off): they must stop, their members join again.
  virtual void watch_ownership(std::function<void(std::vector<std::string>)> lost) {
    (void) lost;
  }

  /// The room stopped on this node: the store forgets its ownership
  /// (nothing is written; another node may take it at once).
  virtual void forget(const std::string& room) {
    (void) room;
  }

  /// Moves what commits wrote ahead (a log) into the store proper, without
  /// holding commits up; called now and then from a thread that is not the
  /// committer's. Throws store_error. Nothing to do for most stores.
  virtual void checkpoint() {
    // nop
  }
};

/// Milliseconds since the epoch.
inline int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// The memory store: history for as long as the process runs.
std::unique_ptr<history_store> make_memory_store();

enum class sync_mode {
  /// WAL with synchronous=NORMAL: a commit survives the process (kill -9),
  /// not a power cut or kernel crash.
  normal,
  /// synchronous=FULL: a commit is on disk (fsync) before it is
  /// acknowledged.
  full,
};

struct sqlite_options {
  /// The folder of the database (created if missing).
  std::string data_dir = "data";
  sync_mode sync = sync_mode::normal;
};

/// Opens (creating or migrating) the SQLite store under `opts.data_dir`,
/// holding a lock on the folder for the life of the store. On failure
/// returns null and says why in `why` (a folder that is not writable, a file
/// that is not a database, a schema from a newer Parley, a folder another
/// gateway uses).
std::unique_ptr<history_store> open_sqlite_store(const sqlite_options& opts, std::string& why);

/// The schema version this build writes (`PRAGMA user_version`).
constexpr int sqlite_schema_version = 3;

/// For tests of migrations: creates a database at an older schema version.
bool create_sqlite_schema_at(const std::string& file, int version, std::string& why);

struct postgres_options {
  /// A libpq connection string or URL (postgresql://user@host:port/db).
  std::string url;
  /// This node's name: the owner of the rooms it loads.
  std::string node;
  /// How long a node's lease on its rooms lasts without renewal; renewed
  /// every third of it. A node that could not renew it for this long
  /// (hung, cut off) may have lost its rooms to another node.
  std::chrono::milliseconds lease{std::chrono::seconds(1)};
};

/// Connects to PostgreSQL, creating or migrating Parley's tables, and
/// takes this node's lease. On failure returns null and says why in `why`
/// (unreachable, refused, a schema from a newer Parley).
std::unique_ptr<history_store> open_postgres_store(const postgres_options& opts,
                                                   std::string& why);

/// The schema version this build writes (table parley_schema).
constexpr int postgres_schema_version = 3;

/// For tests of migrations: creates the tables at an older schema version.
bool create_postgres_schema_at(const std::string& url, int version, std::string& why);

} // namespace parley::store
