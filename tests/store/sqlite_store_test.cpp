// The stores' contract (memory and SQLite alike), SQLite's files (reopen,
// migrations, bad files, a folder in use), and the service's group commit
// and recovery from a full disk. Real files in a temporary folder.
#include "parley/store/history_store.hpp"
#include "parley/store/store_service.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sys/resource.h>

namespace {

using namespace parley::store;
namespace fs = std::filesystem;

struct temp_dir {
  fs::path path;
  temp_dir() {
    auto tmpl = (fs::temp_directory_path() / "parley-store-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

record rec(seq_t seq, std::string text, int64_t sent_ms = 0) {
  return record{seq, "alice", std::move(text), std::string{"\0\x01\xff", 3},
                sent_ms == 0 ? wall_ms() : sent_ms};
}

room_batch batch(std::string room, seq_t first, size_t n, int64_t sent_ms = 0) {
  room_batch b;
  b.room = std::move(room);
  for (size_t i = 0; i < n; ++i)
    b.records.push_back(rec(first + i, "m" + std::to_string(first + i), sent_ms));
  b.last_seq = first + n - 1;
  return b;
}

void commit_one(history_store& s, room_batch b) {
  std::vector<room_batch> v{std::move(b)};
  s.commit(v);
  ASSERT_EQ(v[0].error, "");
}

std::vector<seq_t> seqs(const std::vector<record>& rs) {
  std::vector<seq_t> out;
  for (auto& r : rs)
    out.push_back(r.seq);
  return out;
}

using seq_list = std::vector<seq_t>;

// -- the contract, for both stores --------------------------------------------------

class StoreContract : public ::testing::TestWithParam<std::string> {
protected:
  temp_dir dir;
  std::unique_ptr<history_store> store;

  void SetUp() override {
    if (GetParam() == "memory") {
      store = make_memory_store();
    } else {
      std::string why;
      store = open_sqlite_store({dir.path.string(), sync_mode::normal}, why);
      ASSERT_TRUE(store) << why;
    }
  }
};

TEST_P(StoreContract, KeepsWhatWasCommittedAndLoadsTheNewest) {
  EXPECT_EQ(store->load("lobby", 10).last_seq, 0u) << "an unknown room starts at 0";
  commit_one(*store, batch("lobby", 1, 5));
  commit_one(*store, batch("other", 1, 2));
  auto head = store->load("lobby", 3);
  EXPECT_EQ(head.last_seq, 5u);
  EXPECT_EQ(seqs(head.recent), (seq_list{3, 4, 5}));
  EXPECT_EQ(head.recent.back().text, "m5");
  EXPECT_EQ(head.recent.back().body, std::string("\0\x01\xff", 3)) << "bodies are bytes";
  EXPECT_EQ(store->load("other", 10).last_seq, 2u);
}

TEST_P(StoreContract, RefusesSeqsItHoldsAlreadyButCommitsTheOtherRooms) {
  commit_one(*store, batch("lobby", 1, 3));
  std::vector<room_batch> v{batch("lobby", 3, 2), batch("other", 1, 1)};
  store->commit(v);
  EXPECT_NE(v[0].error.find("conflict"), std::string::npos) << v[0].error;
  EXPECT_EQ(v[0].store_last_seq, 3u);
  EXPECT_EQ(v[1].error, "");
  EXPECT_EQ(store->load("lobby", 10).last_seq, 3u) << "the refused batch left nothing";
  EXPECT_EQ(store->load("other", 10).last_seq, 1u);
}

TEST_P(StoreContract, ReadsPagesFromEitherEnd) {
  commit_one(*store, batch("lobby", 1, 10));
  auto newest = store->read("lobby", 2, 9, 3, true);
  EXPECT_EQ(seqs(newest.records), (seq_list{6, 7, 8}));
  auto oldest = store->read("lobby", 2, 0, 3, false);
  EXPECT_EQ(seqs(oldest.records), (seq_list{3, 4, 5}));
  EXPECT_EQ(oldest.oldest, 1u);
  EXPECT_EQ(oldest.last_seq, 10u);
  auto none = store->read("nowhere", 0, 0, 10, true);
  EXPECT_TRUE(none.records.empty());
  EXPECT_EQ(none.last_seq, 0u);
}

TEST_P(StoreContract, RetentionByCountKeepsTheNewestAndTheLastSeq) {
  commit_one(*store, batch("lobby", 1, 10));
  commit_one(*store, batch("quiet", 1, 10));
  retention keep;
  keep.max_messages = 4;
  keep.max_age = std::chrono::seconds(0);
  auto out = store->trim({"lobby"}, keep, wall_ms(), 1000);
  EXPECT_EQ(out.removed, 6u);
  auto p = store->read("lobby", 0, 0, 100, false);
  EXPECT_EQ(seqs(p.records), (seq_list{7, 8, 9, 10}));
  EXPECT_EQ(p.oldest, 7u) << "what retention removed shows as the oldest held";
  EXPECT_EQ(store->load("lobby", 10).last_seq, 10u);
  EXPECT_EQ(store->read("quiet", 0, 0, 100, false).records.size(), 10u)
    << "only the rooms named are trimmed by count";
}

TEST_P(StoreContract, RetentionByAgeRemovesOldMessagesOfEveryRoomWithinItsBudget) {
  auto old = wall_ms() - 3'600'000;
  commit_one(*store, batch("lobby", 1, 5, old));
  commit_one(*store, batch("lobby", 6, 2));
  commit_one(*store, batch("other", 1, 3, old));
  retention keep;
  keep.max_messages = 0;
  keep.max_age = std::chrono::seconds(60);
  EXPECT_EQ(store->trim({}, keep, wall_ms(), 6).removed, 6u) << "at most the budget";
  EXPECT_EQ(store->trim({}, keep, wall_ms(), 100).removed, 2u);
  EXPECT_EQ(seqs(store->read("lobby", 0, 0, 100, false).records), (seq_list{6, 7}));
  auto gone = store->read("other", 0, 0, 100, false);
  EXPECT_TRUE(gone.records.empty());
  EXPECT_EQ(gone.oldest, 4u) << "nothing held: the oldest is past the last seq";
}

TEST_P(StoreContract, AdoptsALastSeqWithoutMessages) {
  room_batch b;
  b.room = "moved";
  b.last_seq = 40;
  commit_one(*store, b);
  EXPECT_EQ(store->load("moved", 5).last_seq, 40u);
  commit_one(*store, batch("moved", 41, 1));
  EXPECT_EQ(store->load("moved", 5).last_seq, 41u);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContract, ::testing::Values("memory", "sqlite"));

// -- SQLite's file ----------------------------------------------------------------

std::string history_file(const temp_dir& d) {
  return (d.path / "history.db").string();
}

TEST(SqliteStore, HistoryOutlivesTheStoreThatWroteIt) {
  temp_dir dir;
  std::string why;
  {
    auto s = open_sqlite_store({dir.path.string(), sync_mode::full}, why);
    ASSERT_TRUE(s) << why;
    commit_one(*s, batch("lobby", 1, 3));
  }
  auto s = open_sqlite_store({dir.path.string(), sync_mode::normal}, why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(s->load("lobby", 10).last_seq, 3u);
  SQLite::Database db{history_file(dir)};
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

TEST(SqliteStore, OneGatewayPerFolder) {
  temp_dir dir;
  std::string why;
  auto first = open_sqlite_store({dir.path.string(), sync_mode::normal}, why);
  ASSERT_TRUE(first) << why;
  auto second = open_sqlite_store({dir.path.string(), sync_mode::normal}, why);
  EXPECT_FALSE(second);
  EXPECT_NE(why.find("in use by another running gateway"), std::string::npos) << why;
  first.reset();
  EXPECT_TRUE(open_sqlite_store({dir.path.string(), sync_mode::normal}, why)) << why;
}

TEST(SqliteStore, MigratesADatabaseOfTheFirstSchemaKeepingItsHistory) {
  temp_dir dir;
  std::string why;
  ASSERT_TRUE(create_sqlite_schema_at(history_file(dir), 1, why)) << why;
  {
    SQLite::Database db{history_file(dir), SQLite::OPEN_READWRITE};
    db.exec("INSERT INTO rooms(id, name, last_seq) VALUES (1, 'lobby', 2);"
            "INSERT INTO messages VALUES (1, 1, 'a', 'one', x'', 1);"
            "INSERT INTO messages VALUES (1, 2, 'b', 'two', x'', 2);");
    ASSERT_EQ(db.execAndGet("PRAGMA user_version").getInt(), 1);
  }
  auto s = open_sqlite_store({dir.path.string(), sync_mode::normal}, why);
  ASSERT_TRUE(s) << why;
  auto head = s->load("lobby", 10);
  EXPECT_EQ(head.last_seq, 2u);
  ASSERT_EQ(head.recent.size(), 2u);
  EXPECT_EQ(head.recent[1].text, "two");
  s.reset();
  SQLite::Database db{history_file(dir)};
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), sqlite_schema_version);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM sqlite_master WHERE name = 'messages_by_age'")
              .getInt(),
            1);
}

TEST(SqliteStore, RefusesADatabaseOfANewerSchema) {
  temp_dir dir;
  {
    SQLite::Database db{history_file(dir), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE};
    db.exec("CREATE TABLE rooms (id INTEGER PRIMARY KEY); PRAGMA user_version = 99");
  }
  std::string why;
  EXPECT_FALSE(open_sqlite_store({dir.path.string(), sync_mode::normal}, why));
  EXPECT_NE(why.find("newer Parley (schema version 99"), std::string::npos) << why;
  SQLite::Database db{history_file(dir)};
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), 99) << "left untouched";
}

TEST(SqliteStore, RefusesAFileThatIsNotADatabase) {
  temp_dir dir;
  std::string garbage(4096, 'x');
  std::ofstream{history_file(dir)} << garbage;
  std::string why;
  EXPECT_FALSE(open_sqlite_store({dir.path.string(), sync_mode::normal}, why));
  EXPECT_NE(why.find("not a Parley history database"), std::string::npos) << why;
  std::ifstream in{history_file(dir)};
  std::string after{std::istreambuf_iterator<char>{in}, {}};
  EXPECT_EQ(after, garbage) << "nothing lost: the file is as it was";
}

TEST(SqliteStore, RefusesSomeoneElsesDatabase) {
  temp_dir dir;
  {
    SQLite::Database db{history_file(dir), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE};
    db.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY)");
  }
  std::string why;
  EXPECT_FALSE(open_sqlite_store({dir.path.string(), sync_mode::normal}, why));
  EXPECT_NE(why.find("no Parley schema version"), std::string::npos) << why;
}

TEST(SqliteStore, RefusesAFolderItCannotCreate) {
  temp_dir dir;
  std::ofstream{dir.path / "plain-file"} << "x";
  std::string why;
  EXPECT_FALSE(open_sqlite_store({(dir.path / "plain-file" / "data").string(),
                                  sync_mode::normal},
                                 why));
  EXPECT_NE(why.find("cannot create the data folder"), std::string::npos) << why;
}

// -- the service ------------------------------------------------------------------

// A store whose commits wait at a gate, to see what queues up meanwhile.
class gated_store final : public history_store {
public:
  std::unique_ptr<history_store> inner = make_memory_store();
  std::mutex mtx;
  std::condition_variable cv;
  bool open = true;
  int entered = 0;
  std::vector<size_t> group_sizes;

  std::string describe() const override {
    return "gated";
  }
  bool blocking() const override {
    return true;
  }
  room_head load(const std::string& room, size_t recent) override {
    return inner->load(room, recent);
  }
  void commit(std::vector<room_batch>& batches) override {
    std::unique_lock<std::mutex> guard{mtx};
    ++entered;
    group_sizes.push_back(batches.size());
    cv.notify_all();
    cv.wait(guard, [this] { return open; });
    inner->commit(batches);
  }
  page read(const std::string& room, seq_t after, seq_t before, size_t limit,
            bool newest) override {
    return inner->read(room, after, before, limit, newest);
  }
  trim_result trim(const std::vector<std::string>& rooms, const retention& keep, int64_t now,
                   size_t budget) override {
    return inner->trim(rooms, keep, now, budget);
  }
};

TEST(StoreService, WhatArrivesDuringACommitGoesInTheNextOne) {
  auto owned = std::make_unique<gated_store>();
  auto* gate = owned.get();
  gate->open = false;
  store_service svc{std::move(owned)};
  std::promise<std::string> first;
  svc.append(batch("a", 1, 1), [&](const std::string& e, seq_t) { first.set_value(e); });
  {
    std::unique_lock<std::mutex> guard{gate->mtx};
    gate->cv.wait(guard, [&] { return gate->entered == 1; });
  }
  std::vector<std::promise<std::string>> rest(3);
  svc.append(batch("a", 2, 1), [&](const std::string& e, seq_t) { rest[0].set_value(e); });
  svc.append(batch("b", 1, 2), [&](const std::string& e, seq_t) { rest[1].set_value(e); });
  svc.append(batch("c", 1, 1), [&](const std::string& e, seq_t) { rest[2].set_value(e); });
  auto f0 = first.get_future();
  EXPECT_EQ(f0.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
    << "acknowledged before its commit ended";
  {
    std::lock_guard<std::mutex> guard{gate->mtx};
    gate->open = true;
  }
  gate->cv.notify_all();
  EXPECT_EQ(f0.get(), "");
  for (auto& p : rest)
    EXPECT_EQ(p.get_future().get(), "");
  std::lock_guard<std::mutex> guard{gate->mtx};
  EXPECT_EQ(gate->group_sizes, (std::vector<size_t>{1, 3}))
    << "the three that waited went in one transaction";
  EXPECT_EQ(svc.stats().commits.load(), 2u);
  EXPECT_EQ(svc.stats().messages.load(), 5u);
}

TEST(StoreService, LoadsSeeEveryCommitQueuedBeforeThem) {
  temp_dir dir;
  std::string why;
  auto s = open_sqlite_store({dir.path.string(), sync_mode::normal}, why);
  ASSERT_TRUE(s) << why;
  store_service svc{std::move(s)};
  for (seq_t i = 1; i <= 50; ++i)
    svc.append(batch("lobby", i, 1), [](const std::string&, seq_t) {});
  std::promise<seq_t> last;
  svc.load("lobby", 5, [&](room_head* h, const std::string&) { last.set_value(h ? h->last_seq : 0); });
  EXPECT_EQ(last.get_future().get(), 50u);
}

// A full disk (here: the file size limit) refuses commits with a reason and
// the service recovers by itself once there is room again.
TEST(StoreService, AFullDiskRefusesCommitsAndTheStoreRecoversWhenThereIsRoom) {
  temp_dir dir;
  std::string why;
  auto s = open_sqlite_store({dir.path.string(), sync_mode::normal}, why);
  ASSERT_TRUE(s) << why;
  store_service svc{std::move(s)};
  auto commit = [&](room_batch b) {
    std::promise<std::string> done;
    svc.append(std::move(b), [&](const std::string& e, seq_t) { done.set_value(e); });
    return done.get_future().get();
  };
  ASSERT_EQ(commit(batch("lobby", 1, 1)), "");
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit saved{};
  ::getrlimit(RLIMIT_FSIZE, &saved);
  rlimit tight = saved;
  tight.rlim_cur = 64 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tight), 0);
  std::string error;
  seq_t next = 2;
  for (int i = 0; i < 200 && error.empty(); ++i) {
    auto b = batch("lobby", next, 1);
    b.records[0].text.assign(8 * 1024, 'x');
    error = commit(std::move(b));
    if (error.empty())
      ++next;
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(error.empty()) << "64 KiB took 200 messages of 8 KiB";
  EXPECT_TRUE(svc.failing());
  EXPECT_GE(svc.stats().commit_failures.load(), 1u);
  // Room again: the same seq commits, without a gap.
  EXPECT_EQ(commit(batch("lobby", next, 1)), "");
  EXPECT_FALSE(svc.failing());
  std::promise<std::vector<seq_t>> all;
  svc.read("lobby", 0, 0, 1000, false, [&](page* p, const std::string&) {
    all.set_value(p ? seqs(p->records) : std::vector<seq_t>{});
  });
  auto got = all.get_future().get();
  ASSERT_EQ(got.size(), next);
  for (seq_t i = 0; i < next; ++i)
    EXPECT_EQ(got[i], i + 1);
}

TEST(StoreService, AStoppedServiceRefusesNewWork) {
  store_service svc{make_memory_store()};
  svc.stop();
  std::string error;
  svc.append(batch("a", 1, 1), [&](const std::string& e, seq_t) { error = e; });
  EXPECT_NE(error.find("stopping"), std::string::npos) << error;
}

} // namespace
