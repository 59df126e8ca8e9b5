// The SQLite store: one file under the data folder, WAL, two connections
// (the writer's: commits, loads, trims; the reader's: history pages), each
// used by one thread of the store service. SQLiteCpp (Debian's
// libsqlitecpp-dev) holds the handles and statements.
#include "parley/store/history_store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace parley::store {

namespace {

namespace fs = std::filesystem;

constexpr int busy_timeout_ms = 5000;

// The log's length (pages of 4 KiB) past which the writer restarts it:
// 16 MiB.
constexpr int restart_frames = 4096;

// Each step takes the schema from the version before it to its own. Never
// edit a step that shipped: add one.
const char* const migrations[] = {
  // 1: rooms (their last seq outlives retention) and their messages.
  "CREATE TABLE rooms ("
  "  id INTEGER PRIMARY KEY,"
  "  name TEXT NOT NULL UNIQUE,"
  "  last_seq INTEGER NOT NULL);"
  "CREATE TABLE messages ("
  "  room INTEGER NOT NULL REFERENCES rooms(id),"
  "  seq INTEGER NOT NULL,"
  "  sender TEXT NOT NULL,"
  "  text TEXT NOT NULL,"
  "  body BLOB NOT NULL,"
  "  sent_ms INTEGER NOT NULL,"
  "  PRIMARY KEY (room, seq)) WITHOUT ROWID;",
  // 2: retention by age finds old messages without reading every room.
  "CREATE INDEX messages_by_age ON messages(sent_ms);",
  // 3: idempotency keys of publishes (NULL: none).
  "ALTER TABLE messages ADD COLUMN idem_key TEXT;",
};
static_assert(std::size(migrations) == sqlite_schema_version);

std::string file_of(const std::string& data_dir) {
  return (fs::path{data_dir} / "history.db").string();
}

int user_version(SQLite::Database& db) {
  return db.execAndGet("PRAGMA user_version").getInt();
}

// Runs steps from..to-1 (0-based) in one transaction.
void migrate(SQLite::Database& db, int from, int to) {
  SQLite::Transaction tx{db};
  for (int v = from; v < to; ++v)
    db.exec(migrations[v]);
  db.exec("PRAGMA user_version = " + std::to_string(to));
  tx.commit();
}

std::string sqlite_reason(const SQLite::Exception& e) {
  return e.what();
}

int64_t as_int(seq_t x) {
  return static_cast<int64_t>(std::min<seq_t>(x, static_cast<seq_t>(INT64_MAX)));
}

record read_record(SQLite::Statement& q) {
  record r;
  r.seq = static_cast<seq_t>(q.getColumn(0).getInt64());
  r.sender = q.getColumn(1).getString();
  r.text = q.getColumn(2).getString();
  auto body = q.getColumn(3);
  r.body.assign(static_cast<const char*>(body.getBlob()), static_cast<size_t>(body.getBytes()));
  r.sent_ms = q.getColumn(4).getInt64();
  return r;
}

class sqlite_store final : public history_store {
public:
  sqlite_store(std::string dir, int lock_fd, std::unique_ptr<SQLite::Database> writer,
               std::unique_ptr<SQLite::Database> reader,
               std::unique_ptr<SQLite::Database> checkpointer)
    : dir_(std::move(dir)), lock_{lock_fd}, w_(std::move(writer)), r_(std::move(reader)),
      c_(std::move(checkpointer)),
      find_room_(*w_, "SELECT id, last_seq FROM rooms WHERE name = ?"),
      add_room_(*w_, "INSERT INTO rooms(name, last_seq) VALUES (?, 0)"),
      set_last_(*w_, "UPDATE rooms SET last_seq = ? WHERE id = ?"),
      insert_(*w_, "INSERT INTO messages(room, seq, sender, text, body, sent_ms, idem_key) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)"),
      keys_(*w_, "SELECT idem_key, seq FROM messages WHERE room = ? AND idem_key IS NOT NULL "
                 "ORDER BY seq DESC LIMIT ?"),
      recent_(*w_, "SELECT seq, sender, text, body, sent_ms FROM messages "
                   "WHERE room = ? ORDER BY seq DESC LIMIT ?"),
      trim_count_(*w_, "DELETE FROM messages WHERE room = ? AND seq <= ?"),
      trim_age_(*w_, "DELETE FROM messages WHERE (room, seq) IN (SELECT room, seq FROM "
                     "messages WHERE sent_ms < ? LIMIT ?)"),
      r_find_room_(*r_, "SELECT id, last_seq FROM rooms WHERE name = ?"),
      r_oldest_(*r_, "SELECT min(seq) FROM messages WHERE room = ?"),
      r_newest_(*r_, "SELECT seq, sender, text, body, sent_ms FROM messages "
                     "WHERE room = ? AND seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?"),
      r_oldest_first_(*r_, "SELECT seq, sender, text, body, sent_ms FROM messages "
                           "WHERE room = ? AND seq > ? AND seq < ? ORDER BY seq ASC LIMIT ?") {
    // nop
  }


  std::string describe() const override {
    return "sqlite " + file_of(dir_);
  }

  bool blocking() const override {
    return true;
  }

  room_head load(const std::string& room, size_t recent) override {
    try {
      room_head head;
      find_room_.reset();
      find_room_.bind(1, room);
      if (!find_room_.executeStep())
        return head;
      auto id = find_room_.getColumn(0).getInt64();
      head.last_seq = static_cast<seq_t>(find_room_.getColumn(1).getInt64());
      recent_.reset();
      recent_.bind(1, id);
      recent_.bind(2, static_cast<int64_t>(recent));
      while (recent_.executeStep())
        head.recent.push_back(read_record(recent_));
      std::reverse(head.recent.begin(), head.recent.end());
      recent_.reset();
      keys_.reset();
      keys_.bind(1, id);
      keys_.bind(2, static_cast<int64_t>(publish_id_window));
      while (keys_.executeStep())
        head.keys.emplace_back(keys_.getColumn(0).getString(),
                               static_cast<seq_t>(keys_.getColumn(1).getInt64()));
      keys_.reset();
      std::reverse(head.keys.begin(), head.keys.end());
      return head;
    } catch (const SQLite::Exception& e) {
      find_room_.tryReset();
      recent_.tryReset();
      keys_.tryReset();
      throw store_error{sqlite_reason(e)};
    }
  }

  void commit(std::vector<room_batch>& batches) override {
    if (log_frames_.load(std::memory_order_relaxed) > restart_frames) {
      log_frames_.store(0, std::memory_order_relaxed);
      try {
        SQLite::Statement restart{*w_, "PRAGMA wal_checkpoint(RESTART)"};
        restart.executeStep();
      } catch (const SQLite::Exception&) {
        // Busy (a long read): the next PASSIVE tells again.
      }
    }
    try {
      w_->exec("BEGIN IMMEDIATE");
    } catch (const SQLite::Exception& e) {
      throw store_error{sqlite_reason(e)};
    }
    try {
      for (auto& b : batches)
        commit_one(b);
      w_->exec("COMMIT");
    } catch (const SQLite::Exception& e) {
      auto why = sqlite_reason(e);
      for (auto* q : {&find_room_, &add_room_, &set_last_, &insert_})
        q->tryReset();
      try {
        w_->exec("ROLLBACK");
      } catch (const SQLite::Exception&) {
        // Already rolled back by SQLite (a full disk, say).
      }
      throw store_error{why};
    }
  }

  page read(const std::string& room, seq_t after, seq_t before, size_t limit,
            bool newest) override {
    try {
      // One snapshot for the room's last seq, its oldest and the messages.
      SQLite::Transaction tx{*r_};
      page p;
      r_find_room_.reset();
      r_find_room_.bind(1, room);
      if (!r_find_room_.executeStep()) {
        r_find_room_.reset();
        return p;
      }
      auto id = r_find_room_.getColumn(0).getInt64();
      p.last_seq = static_cast<seq_t>(r_find_room_.getColumn(1).getInt64());
      r_find_room_.reset();
      r_oldest_.reset();
      r_oldest_.bind(1, id);
      r_oldest_.executeStep();
      p.oldest = r_oldest_.getColumn(0).isNull()
                   ? p.last_seq + 1
                   : static_cast<seq_t>(r_oldest_.getColumn(0).getInt64());
      r_oldest_.reset();
      auto& q = newest ? r_newest_ : r_oldest_first_;
      q.reset();
      q.bind(1, id);
      q.bind(2, as_int(after));
      q.bind(3, before == 0 ? INT64_MAX : as_int(before));
      q.bind(4, static_cast<int64_t>(limit));
      while (q.executeStep())
        p.records.push_back(read_record(q));
      q.reset();
      if (newest)
        std::reverse(p.records.begin(), p.records.end());
      tx.commit();
      return p;
    } catch (const SQLite::Exception& e) {
      for (auto* q : {&r_find_room_, &r_oldest_, &r_newest_, &r_oldest_first_})
        q->tryReset();
      throw store_error{sqlite_reason(e)};
    }
  }

  trim_result trim(const std::vector<std::string>& rooms, const retention& keep, int64_t now_ms,
                   size_t budget) override {
    trim_result out;
    try {
      SQLite::Transaction tx{*w_};
      if (keep.max_messages > 0)
        for (auto& room : rooms) {
          find_room_.reset();
          find_room_.bind(1, room);
          if (!find_room_.executeStep())
            continue;
          auto id = find_room_.getColumn(0).getInt64();
          auto last = static_cast<seq_t>(find_room_.getColumn(1).getInt64());
          find_room_.reset();
          if (last <= keep.max_messages)
            continue;
          trim_count_.reset();
          trim_count_.bind(1, id);
          trim_count_.bind(2, as_int(last - keep.max_messages));
          out.removed += static_cast<uint64_t>(trim_count_.exec());
        }
      if (keep.max_age.count() > 0 && out.removed < budget) {
        trim_age_.reset();
        trim_age_.bind(1, static_cast<int64_t>(now_ms - keep.max_age.count() * 1000));
        trim_age_.bind(2, static_cast<int64_t>(budget - out.removed));
        out.removed += static_cast<uint64_t>(trim_age_.exec());
      }
      tx.commit();
      return out;
    } catch (const SQLite::Exception& e) {
      find_room_.tryReset();
      trim_count_.tryReset();
      trim_age_.tryReset();
      throw store_error{sqlite_reason(e)};
    }
  }

  // The writer's connection does not checkpoint on its own
  // (wal_autocheckpoint = 0): a checkpoint that copies the log into the
  // database file, and with synchronous=NORMAL syncs it, would stall every
  // commit queued behind it. This connection copies from the reader's
  // thread instead (PASSIVE never waits for the writer). But under steady
  // commits the writer always adds to the log while that runs, so the log
  // would never start over and would grow without end (2 GB in 8 s at full
  // speed): once PASSIVE saw it past `restart_frames`, the writer itself
  // restarts it before its next transaction (`commit`), when it holds no
  // transaction: a short stall, since PASSIVE copied most of it.
  void checkpoint() override {
    try {
      SQLite::Statement passive{*c_, "PRAGMA wal_checkpoint(PASSIVE)"};
      passive.executeStep();
      log_frames_.store(passive.getColumn(1).getInt(), std::memory_order_relaxed);
    } catch (const SQLite::Exception& e) {
      throw store_error{sqlite_reason(e)};
    }
  }

private:
  void commit_one(room_batch& b) {
    find_room_.reset();
    find_room_.bind(1, b.room);
    int64_t id = 0;
    seq_t last = 0;
    if (find_room_.executeStep()) {
      id = find_room_.getColumn(0).getInt64();
      last = static_cast<seq_t>(find_room_.getColumn(1).getInt64());
      find_room_.reset();
    } else {
      find_room_.reset();
      add_room_.reset();
      add_room_.bind(1, b.room);
      add_room_.exec();
      id = w_->getLastInsertRowid();
    }
    if (!b.records.empty() ? b.records.front().seq <= last : b.last_seq < last) {
      b.error = "conflict: the store holds seq " + std::to_string(last) + " of room " + b.room
                + " already";
      b.store_last_seq = last;
      return;
    }
    for (auto& r : b.records) {
      insert_.reset();
      insert_.bind(1, id);
      insert_.bind(2, as_int(r.seq));
      insert_.bindNoCopy(3, r.sender);
      insert_.bindNoCopy(4, r.text);
      insert_.bindNoCopy(5, r.body.data(), static_cast<int>(r.body.size()));
      insert_.bind(6, static_cast<int64_t>(r.sent_ms));
      if (r.key.empty())
        insert_.bind(7);
      else
        insert_.bindNoCopy(7, r.key);
      insert_.exec();
    }
    set_last_.reset();
    set_last_.bind(1, as_int(b.last_seq));
    set_last_.bind(2, id);
    set_last_.exec();
  }

  // Members end in reverse order: the statements, then the databases, then
  // the lock that guards them.
  struct lock_guard {
    int fd = -1;
    ~lock_guard() {
      if (fd >= 0)
        ::close(fd);
    }
  };

  std::string dir_;
  lock_guard lock_;
  std::unique_ptr<SQLite::Database> w_;
  std::unique_ptr<SQLite::Database> r_;
  std::unique_ptr<SQLite::Database> c_;
  /// The log's length at the last PASSIVE checkpoint (pages).
  std::atomic<int> log_frames_{0};
  SQLite::Statement find_room_;
  SQLite::Statement add_room_;
  SQLite::Statement set_last_;
  SQLite::Statement insert_;
  SQLite::Statement keys_;
  SQLite::Statement recent_;
  SQLite::Statement trim_count_;
  SQLite::Statement trim_age_;
  SQLite::Statement r_find_room_;
  SQLite::Statement r_oldest_;
  SQLite::Statement r_newest_;
  SQLite::Statement r_oldest_first_;
};

// Opens the database file, checking that it is one of ours and not from a
// newer Parley, and brings its schema up to date.
std::unique_ptr<SQLite::Database> open_writer(const std::string& file, sync_mode sync,
                                              std::string& why) {
  std::unique_ptr<SQLite::Database> db;
  try {
    db = std::make_unique<SQLite::Database>(file, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
                                            busy_timeout_ms);
  } catch (const SQLite::Exception& e) {
    why = file + ": cannot open: " + sqlite_reason(e);
    return nullptr;
  }
  int version = 0;
  try {
    // The first read of the header: a file that is not a database fails here.
    version = user_version(*db);
    if (version == 0
        && db->execAndGet("SELECT count(*) FROM sqlite_master").getInt() > 0) {
      why = file + ": not a Parley history database (it has tables but no Parley schema "
                   "version); move it away or point --data-dir elsewhere";
      return nullptr;
    }
  } catch (const SQLite::Exception& e) {
    why = file + ": not a Parley history database (SQLite says: " + sqlite_reason(e)
          + "); move it away or point --data-dir elsewhere";
    return nullptr;
  }
  if (version > sqlite_schema_version) {
    why = file + ": written by a newer Parley (schema version " + std::to_string(version)
          + "; this one knows up to " + std::to_string(sqlite_schema_version)
          + "): refusing to touch it; run the newer version";
    return nullptr;
  }
  try {
    auto mode = db->execAndGet("PRAGMA journal_mode = WAL").getString();
    if (mode != "wal") {
      why = file + ": cannot switch to WAL mode (journal_mode is " + mode + ")";
      return nullptr;
    }
    db->exec(sync == sync_mode::full ? "PRAGMA synchronous = FULL"
                                     : "PRAGMA synchronous = NORMAL");
    db->exec("PRAGMA wal_autocheckpoint = 0"); // see sqlite_store::checkpoint
    if (version < sqlite_schema_version)
      migrate(*db, version, sqlite_schema_version);
  } catch (const SQLite::Exception& e) {
    why = file + ": cannot prepare the database: " + sqlite_reason(e);
    return nullptr;
  }
  return db;
}

} // namespace

bool create_sqlite_schema_at(const std::string& file, int version, std::string& why) {
  try {
    SQLite::Database db{file, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE};
    migrate(db, user_version(db), version);
    return true;
  } catch (const SQLite::Exception& e) {
    why = sqlite_reason(e);
    return false;
  }
}

std::unique_ptr<history_store> open_sqlite_store(const sqlite_options& opts, std::string& why) {
  std::error_code ec;
  fs::create_directories(opts.data_dir, ec);
  if (ec) {
    why = "cannot create the data folder " + opts.data_dir + ": " + ec.message();
    return nullptr;
  }
  if (::access(opts.data_dir.c_str(), W_OK | X_OK) != 0) {
    why = "the data folder " + opts.data_dir + " is not writable: " + std::strerror(errno);
    return nullptr;
  }
  // One gateway per folder: two writers would each count seqs of their own.
  auto lock_file = (fs::path{opts.data_dir} / "LOCK").string();
  int fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    why = "cannot create " + lock_file + ": " + std::strerror(errno);
    return nullptr;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    why = "the data folder " + opts.data_dir
          + " is in use by another running gateway (its LOCK is held)";
    return nullptr;
  }
  auto file = file_of(opts.data_dir);
  auto writer = open_writer(file, opts.sync, why);
  if (!writer) {
    ::close(fd);
    return nullptr;
  }
  try {
    auto reader = std::make_unique<SQLite::Database>(file, SQLite::OPEN_READONLY, busy_timeout_ms);
    auto checkpointer =
      std::make_unique<SQLite::Database>(file, SQLite::OPEN_READWRITE, busy_timeout_ms);
    checkpointer->exec(opts.sync == sync_mode::full ? "PRAGMA synchronous = FULL"
                                                    : "PRAGMA synchronous = NORMAL");
    return std::make_unique<sqlite_store>(opts.data_dir, fd, std::move(writer), std::move(reader),
                                          std::move(checkpointer));
  } catch (const SQLite::Exception& e) {
    ::close(fd);
    why = file + ": " + sqlite_reason(e);
    return nullptr;
  }
}

} // namespace parley::store
