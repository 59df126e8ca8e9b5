// The stores' contract (memory, SQLite and PostgreSQL alike), SQLite's
// files (reopen, migrations, bad files, a folder in use), PostgreSQL's
// schema and room ownership (fencing epochs, leases), and the service's
// group commit and recovery from a full disk. Real files in a temporary
// folder; a real PostgreSQL server (the CTest fixture `postgres`).
#include "parley/store/history_store.hpp"
#include "parley/store/store_service.hpp"

#include "support/postgres.hpp"

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

// Takes the room (a store that arbitrates ownership gives an epoch that
// the batch must carry) and returns the batch ready to commit.
room_batch owned(history_store& s, room_batch b) {
  b.epoch = s.load(b.room, 0).epoch;
  return b;
}

void commit_one(history_store& s, room_batch b) {
  std::vector<room_batch> v{owned(s, std::move(b))};
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
    } else if (GetParam() == "postgres") {
      std::string why;
      auto url = parley::test::fresh_postgres_database();
      ASSERT_FALSE(url.empty());
      store = open_postgres_store({url, "node-a", std::chrono::seconds(2)}, why);
      ASSERT_TRUE(store) << why;
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
  std::vector<room_batch> v{owned(*store, batch("lobby", 3, 2)),
                            owned(*store, batch("other", 1, 1))};
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

INSTANTIATE_TEST_SUITE_P(Stores, StoreContract,
                         ::testing::Values("memory", "sqlite", "postgres"));

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

// -- PostgreSQL: schema and ownership --------------------------------------------

using parley::test::fresh_postgres_database;
using parley::test::postgres_exec;
using parley::test::postgres_value;

std::unique_ptr<history_store> open_pg(const std::string& url, const std::string& node,
                                       std::chrono::milliseconds lease = std::chrono::seconds(2)) {
  std::string why;
  auto s = open_postgres_store({url, node, lease}, why);
  EXPECT_TRUE(s) << why;
  return s;
}

std::string commit_error(history_store& s, room_batch b, bool* fenced = nullptr) {
  std::vector<room_batch> v{std::move(b)};
  s.commit(v);
  if (fenced)
    *fenced = v[0].fenced;
  return v[0].error;
}

TEST(PostgresStore, ANodeThatLostTheRoomCannotCommitAnyMore) {
  auto url = fresh_postgres_database();
  auto a = open_pg(url, "node-a");
  auto b = open_pg(url, "node-b");
  ASSERT_TRUE(a && b);
  auto on_a = a->load("lobby", 10);
  EXPECT_EQ(on_a.epoch, 1u);
  auto first = batch("lobby", 1, 2);
  first.epoch = on_a.epoch;
  ASSERT_EQ(commit_error(*a, first), "");
  // Node b sees node a (the cluster found it does not run the room): it
  // takes the room with the next epoch.
  b->set_view({"node-a", "node-b"});
  auto on_b = b->load("lobby", 10);
  EXPECT_EQ(on_b.epoch, 2u);
  EXPECT_EQ(on_b.last_seq, 2u);
  // Node a still believes it owns the room: its next batch, with seq 3, is
  // refused as fenced, and b's seq 3 goes in.
  auto stale = batch("lobby", 3, 1);
  stale.epoch = on_a.epoch;
  bool fenced = false;
  auto why = commit_error(*a, stale, &fenced);
  EXPECT_TRUE(fenced) << why;
  EXPECT_NE(why.find("held by node 'node-b'"), std::string::npos) << why;
  auto fresh = batch("lobby", 3, 1);
  fresh.epoch = on_b.epoch;
  fresh.records[0].text = "from b";
  EXPECT_EQ(commit_error(*b, fresh), "");
  auto p = b->read("lobby", 0, 0, 10, false);
  ASSERT_EQ(p.records.size(), 3u);
  EXPECT_EQ(p.records[2].text, "from b") << "one message per seq, the owner's";
}

TEST(PostgresStore, AMinorityDoesNotTakeARoomFromALiveNodeItCannotSee) {
  auto url = fresh_postgres_database();
  auto a = open_pg(url, "node-a");
  auto b = open_pg(url, "node-b");
  auto c = open_pg(url, "node-c");
  ASSERT_TRUE(a && b && c);
  a->load("lobby", 0);
  // a is cut off from b and c; all three still reach the database. a holds
  // the room; b alone (1 of 3) may not take it ...
  try {
    b->load("lobby", 0);
    ADD_FAILURE() << "a node that sees 1 of 3 live nodes took the room";
  } catch (const store_error& e) {
    EXPECT_NE(std::string{e.what()}.find("not a majority"), std::string::npos) << e.what();
  }
  // ... but b with c (2 of 3) may.
  b->set_view({"node-b", "node-c"});
  EXPECT_EQ(b->load("lobby", 0).epoch, 2u) << "the refused attempt took no epoch";
  // And a, on its side (1 of 3), cannot take it back.
  EXPECT_THROW(a->load("lobby", 0), store_error);
}

TEST(PostgresStore, ARoomOfANodeWhoseLeaseRanOutIsTakenAndItsOldOwnerIsTold) {
  auto url = fresh_postgres_database();
  auto a = open_pg(url, "node-a", std::chrono::milliseconds(300));
  ASSERT_TRUE(a);
  std::promise<std::vector<std::string>> told;
  std::atomic<bool> once{false};
  a->watch_ownership([&](std::vector<std::string> rooms) {
    if (!once.exchange(true))
      told.set_value(std::move(rooms));
  });
  a->load("lobby", 0);
  a->load("kept", 0);
  // What the database holds after node a hung for longer than its lease
  // and node b took the room meanwhile (one transaction: node a's lease
  // thread must not renew in between).
  ASSERT_EQ(postgres_exec(url, "UPDATE parley_nodes SET lease_until = now() - interval '1 "
                               "minute' WHERE name = 'node-a';"
                               "UPDATE parley_rooms SET owner = 'node-b', epoch = epoch + 1 "
                               "WHERE name = 'lobby'"),
            "");
  auto got = told.get_future();
  ASSERT_EQ(got.wait_for(std::chrono::seconds(10)), std::future_status::ready)
    << "node a was not told it lost the room";
  EXPECT_EQ(got.get(), (std::vector<std::string>{"lobby"})) << "only the room taken";
}

TEST(PostgresStore, AStoreClosedCleanlyLetsItsRoomsGoAtOnce) {
  auto url = fresh_postgres_database();
  {
    auto a = open_pg(url, "node-a", std::chrono::seconds(60));
    ASSERT_TRUE(a);
    a->load("lobby", 0);
  }
  auto b = open_pg(url, "node-b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->load("lobby", 0).epoch, 2u);
}

TEST(PostgresStore, MigratesADatabaseOfTheFirstSchemaKeepingItsHistory) {
  auto url = fresh_postgres_database();
  std::string why;
  ASSERT_TRUE(create_postgres_schema_at(url, 1, why)) << why;
  ASSERT_EQ(postgres_exec(url, "INSERT INTO parley_rooms(name, last_seq) VALUES ('lobby', 2);"
                               "INSERT INTO parley_messages VALUES (1, 1, 'alice', 'one', "
                               "'\\x00'::bytea, 1), (1, 2, 'bob', 'two', ''::bytea, 2)"),
            "");
  auto s = open_pg(url, "node-a");
  ASSERT_TRUE(s);
  EXPECT_EQ(postgres_value(url, "SELECT version FROM parley_schema"),
            std::to_string(postgres_schema_version));
  auto head = s->load("lobby", 10);
  EXPECT_EQ(head.last_seq, 2u);
  ASSERT_EQ(head.recent.size(), 2u);
  EXPECT_EQ(head.recent[0].body, std::string(1, '\0'));
  EXPECT_EQ(head.recent[1].text, "two");
  auto next = batch("lobby", 3, 1);
  next.epoch = head.epoch;
  EXPECT_EQ(commit_error(*s, next), "");
}

TEST(PostgresStore, RefusesADatabaseOfANewerSchema) {
  auto url = fresh_postgres_database();
  std::string why;
  ASSERT_TRUE(create_postgres_schema_at(url, postgres_schema_version, why)) << why;
  ASSERT_EQ(postgres_exec(url, "UPDATE parley_schema SET version = 99"), "");
  auto s = open_postgres_store({url, "node-a"}, why);
  EXPECT_FALSE(s);
  EXPECT_NE(why.find("newer Parley (schema version 99"), std::string::npos) << why;
  EXPECT_EQ(postgres_value(url, "SELECT version FROM parley_schema"), "99") << "left as it was";
}

TEST(PostgresStore, RefusesTablesOfItsNamesWithoutAVersion) {
  auto url = fresh_postgres_database();
  ASSERT_EQ(postgres_exec(url, "CREATE TABLE parley_rooms (x int)"), "");
  std::string why;
  EXPECT_FALSE(open_postgres_store({url, "node-a"}, why));
  EXPECT_NE(why.find("no schema version"), std::string::npos) << why;
}

TEST(PostgresStore, AnUnreachableServerIsAClearError) {
  std::string why;
  // A port nothing listens on (the discard port, closed on loopback).
  EXPECT_FALSE(open_postgres_store({"postgresql://nobody@127.0.0.1:9/x", "node-a"}, why));
  EXPECT_NE(why.find("PostgreSQL:"), std::string::npos) << why;
  EXPECT_NE(why.find("127.0.0.1"), std::string::npos) << why;
  EXPECT_FALSE(open_postgres_store({"", "node-a"}, why));
  EXPECT_NE(why.find("--postgres-url"), std::string::npos) << why;
}

TEST(PostgresStore, CommitsFailWhileTheServerIsDownAndWorkWhenItIsBack) {
  auto dir = parley::test::postgres_dir();
  ASSERT_FALSE(dir.empty());
  // A server of this test's own, to stop and start.
  auto own = dir + "-restart-" + std::to_string(::getpid());
  auto script = parley::test::postgres_script();
  ASSERT_EQ(std::system(("bash " + script + " start " + own + " >/dev/null").c_str()), 0);
  std::ifstream in{own + "/url"};
  std::string url;
  std::getline(in, url);
  auto s = open_pg(url, "node-a");
  ASSERT_TRUE(s);
  auto head = s->load("lobby", 0);
  auto b1 = batch("lobby", 1, 1);
  b1.epoch = head.epoch;
  EXPECT_EQ(commit_error(*s, b1), "");
  ASSERT_EQ(std::system(("bash " + script + " stop " + own).c_str()), 0);
  auto b2 = batch("lobby", 2, 1);
  b2.epoch = head.epoch;
  std::vector<room_batch> v{b2};
  EXPECT_THROW(s->commit(v), store_error);
  ASSERT_EQ(std::system(("bash " + script + " start " + own + " >/dev/null").c_str()), 0);
  EXPECT_EQ(commit_error(*s, b2), "") << "the store reconnects by itself";
  EXPECT_EQ(s->read("lobby", 0, 0, 10, false).records.size(), 2u);
  s.reset();
  std::system(("bash " + script + " rm " + own).c_str());
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
