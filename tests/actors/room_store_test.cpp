// A room with a history store, on CAF's real scheduler (the store answers
// from its own thread): acknowledged and delivered only after the commit,
// publishes that arrive during a commit grouped in the next one, refused
// commits that deliver nothing and leave no hole, resumes and history pages
// read from the store, and gaps only where retention removed messages.
#include "parley/actors/room.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/runtime/node.hpp"
#include "parley/store/store_service.hpp"
#include "support/chat_probe.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>

namespace {

using namespace parley;
using namespace parley::actors;
using namespace std::chrono_literals;
using parley::test::member_probe;

// The memory store behind a gate: commits wait while it is closed, and fail
// with `fail` when set; reads fail with `fail_reads`.
class gated_store final : public store::history_store {
public:
  std::unique_ptr<store::history_store> inner = store::make_memory_store();
  std::mutex mtx;
  std::condition_variable cv;
  bool open = true;
  int entered = 0;
  std::string fail;
  std::string fail_reads;
  std::vector<size_t> records_per_commit;

  std::string describe() const override {
    return "gated";
  }
  bool blocking() const override {
    return true;
  }
  store::room_head load(const std::string& room, size_t recent) override {
    return inner->load(room, recent);
  }
  void commit(std::vector<store::room_batch>& batches) override {
    std::unique_lock<std::mutex> guard{mtx};
    ++entered;
    size_t n = 0;
    for (auto& b : batches)
      n += b.records.size();
    records_per_commit.push_back(n);
    cv.notify_all();
    cv.wait(guard, [this] { return open; });
    if (!fail.empty())
      throw store::store_error{fail};
    inner->commit(batches);
  }
  store::page read(const std::string& room, store::seq_t after, store::seq_t before,
                   size_t limit, bool newest) override {
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (!fail_reads.empty())
        throw store::store_error{fail_reads};
    }
    return inner->read(room, after, before, limit, newest);
  }
  store::trim_result trim(const std::vector<std::string>& rooms, const store::retention& keep,
                          int64_t now, size_t budget) override {
    return inner->trim(rooms, keep, now, budget);
  }

  void set_open(bool x) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      open = x;
    }
    cv.notify_all();
  }
  void wait_entered(int n) {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [&] { return entered >= n; });
  }
};

struct real_config : caf::actor_system_config {
  real_config() {
    runtime::announce_runtime(*this);
    set("scheduler.max-threads", 2);
  }
};

class RoomStoreTest : public ::testing::Test {
protected:
  real_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  gated_store* gate = nullptr;
  std::shared_ptr<store::store_service> service;
  room_actor room;
  std::deque<member_probe> members;

  void SetUp() override {
    auto owned = std::make_unique<gated_store>();
    gate = owned.get();
    service = std::make_shared<store::store_service>(std::move(owned));
  }

  void TearDown() override {
    for (auto& m : members)
      self->send_exit(m.handle, caf::exit_reason::user_shutdown);
    if (room)
      self->send_exit(room, caf::exit_reason::user_shutdown);
    gate->set_open(true);
    service->stop();
  }

  // Starts the room from what the store holds, as the rooms directory does.
  void start(size_t backlog = 25, size_t max_history = 100) {
    room_config rc;
    rc.presence_interval = caf::timespan{0};
    rc.backlog = backlog;
    rc.max_history = max_history;
    rc.store = service;
    auto head = gate->inner->load("lobby", backlog);
    auto memory = std::make_shared<room_memory>();
    memory->last_seq = head.last_seq;
    for (auto& r : head.recent)
      memory->backlog.push_back(chat_message{"lobby", r.seq, r.sender, r.text, r.body, r.sent_ms});
    for (auto& [key, seq] : head.keys)
      memory->remember(key, seq);
    room = sys.spawn(room_impl, std::string{"lobby"}, rc, memory, room_behavior_rule{});
  }

  member_probe& add_member(std::string user) {
    members.push_back(test::make_probe(sys, std::move(user)));
    return members.back();
  }

  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    caf::expected<T> result{caf::make_error(caf::sec::request_timeout, "no reply")};
    self->request(room, 10s, std::forward<Ts>(xs)...)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::expected<join_reply> join(const member_probe& m, std::optional<seq_t> since = {}) {
    return ask<join_reply>(join_atom::value, m.join_request(since));
  }

  caf::expected<seq_t> publish(const member_probe& m, std::string text, std::string id = {}) {
    return ask<seq_t>(publish_atom::value,
                      publish_request{m.id(), std::move(text), {}, std::move(id)});
  }

  caf::expected<history_reply> history(seq_t after, seq_t before, uint32_t limit) {
    return ask<history_reply>(history_atom::value, history_request{before, after, limit});
  }

  // Every publish acknowledged, in order.
  void publish_n(const member_probe& m, int n) {
    for (int i = 0; i < n; ++i)
      ASSERT_TRUE(publish(m, "m" + std::to_string(i + 1)));
  }

  static std::vector<seq_t> seqs_of(const std::vector<chat_message>& msgs) {
    std::vector<seq_t> out;
    for (auto& m : msgs)
      out.push_back(m.seq);
    return out;
  }

  static seq_t seq_or_0(const caf::expected<seq_t>& x) {
    return x ? *x : 0;
  }

  bool is(const caf::error& err, runtime::errc code) {
    return runtime::is(err, code);
  }
};

using seqs = std::vector<seq_t>;

TEST_F(RoomStoreTest, APublishIsAcknowledgedAndDeliveredOnlyOnceCommitted) {
  start();
  auto& alice = add_member("alice");
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(alice));
  ASSERT_TRUE(join(bob));
  gate->set_open(false);
  self->send(room, publish_atom::value, publish_request{alice.id(), "held", {}});
  gate->wait_entered(1);
  // The commit runs: nothing acknowledged, nothing delivered.
  bool early = false;
  self->receive([&](seq_t) { early = true; }, [&](caf::error&) { early = true; },
                caf::after(0s) >> [] {});
  EXPECT_FALSE(early) << "acknowledged before the commit ended";
  EXPECT_TRUE(bob.messages().empty()) << "delivered before the commit ended";
  gate->set_open(true);
  seq_t acked = 0;
  self->receive([&](seq_t s) { acked = s; }, caf::after(10s) >> [] {});
  EXPECT_EQ(acked, 1u);
  EXPECT_EQ(bob.seqs(), (seqs{1}));
  EXPECT_EQ(gate->inner->load("lobby", 5).last_seq, 1u);
}

TEST_F(RoomStoreTest, PublishesThatArriveDuringACommitGoInOneNextCommit) {
  start();
  auto& alice = add_member("alice");
  ASSERT_TRUE(join(alice));
  gate->set_open(false);
  for (int i = 0; i < 4; ++i)
    self->send(room, publish_atom::value, publish_request{alice.id(), "m" + std::to_string(i), {}});
  gate->wait_entered(1);
  // The room handled all four (a summary is answered after them) while
  // the first commit runs.
  ASSERT_TRUE(ask<room_summary>(summary_atom::value));
  gate->set_open(true);
  std::vector<seq_t> acks;
  for (int i = 0; i < 4; ++i)
    self->receive([&](seq_t s) { acks.push_back(s); }, caf::after(10s) >> [] {});
  EXPECT_EQ(acks, (seqs{1, 2, 3, 4}));
  std::lock_guard<std::mutex> guard{gate->mtx};
  EXPECT_EQ(gate->records_per_commit, (std::vector<size_t>{1, 3}));
}

TEST_F(RoomStoreTest, ARefusedCommitDeliversNothingAndTheNextOneTakesItsSeq) {
  start();
  auto& alice = add_member("alice");
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(alice));
  ASSERT_TRUE(join(bob));
  ASSERT_EQ(seq_or_0(publish(alice, "before")), 1u);
  {
    std::lock_guard<std::mutex> guard{gate->mtx};
    gate->fail = "database or disk is full";
  }
  auto refused = publish(alice, "lost");
  ASSERT_FALSE(refused);
  EXPECT_TRUE(is(refused.error(), runtime::errc::store_unavailable))
    << sys.render(refused.error());
  EXPECT_NE(sys.render(refused.error()).find("disk is full"), std::string::npos);
  {
    std::lock_guard<std::mutex> guard{gate->mtx};
    gate->fail.clear();
  }
  EXPECT_EQ(seq_or_0(publish(alice, "after")), 2u) << "no hole where the refused one was";
  EXPECT_EQ(bob.seqs(), (seqs{1, 2}));
  for (auto& m : bob.messages())
    EXPECT_NE(m.text(), "lost");
  auto h = history(0, 0, 10);
  ASSERT_TRUE(h);
  EXPECT_EQ(seqs_of(h->messages), (seqs{1, 2}));
  EXPECT_EQ(h->messages[1].text, "after");
}

TEST_F(RoomStoreTest, SeqsContinueFromTheStore) {
  store::room_batch b;
  b.room = "lobby";
  b.records.push_back(store::record{41, "zed", "old", {}, store::wall_ms()});
  b.last_seq = 41;
  std::vector<store::room_batch> v{b};
  gate->inner->commit(v);
  start();
  auto& alice = add_member("alice");
  auto joined = join(alice);
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->seq, 41u);
  EXPECT_EQ(seqs_of(joined->messages), (seqs{41}));
  EXPECT_EQ(seq_or_0(publish(alice, "next")), 42u);
}

TEST_F(RoomStoreTest, AResumeOlderThanTheBacklogReadsTheStoreOnePageAtATime) {
  start(/*backlog=*/3, /*max_history=*/5);
  auto& alice = add_member("alice");
  ASSERT_TRUE(join(alice));
  publish_n(alice, 12);
  auto& bob = add_member("bob");
  auto far = join(bob, seq_t{2});
  ASSERT_TRUE(far) << sys.render(far.error());
  EXPECT_EQ(seqs_of(far->messages), (seqs{8, 9, 10, 11, 12})) << "the newest page after since";
  EXPECT_TRUE(far->more) << "3..7 are a page away";
  EXPECT_FALSE(far->gap) << "nothing was removed";
  auto rest = history(2, 8, 0);
  ASSERT_TRUE(rest);
  EXPECT_EQ(seqs_of(rest->messages), (seqs{3, 4, 5, 6, 7}));
  auto& carol = add_member("carol");
  auto near = join(carol, seq_t{8});
  ASSERT_TRUE(near);
  EXPECT_EQ(seqs_of(near->messages), (seqs{9, 10, 11, 12})) << "store and backlog, joined";
  EXPECT_FALSE(near->more);
  EXPECT_FALSE(near->gap);
  // Members admitted after a read get what follows, like everyone.
  ASSERT_TRUE(publish(alice, "m13"));
  EXPECT_EQ(carol.seqs(), (seqs{13}));
}

TEST_F(RoomStoreTest, HistoryOlderThanTheBacklogComesFromTheStore) {
  start(/*backlog=*/3);
  auto& alice = add_member("alice");
  ASSERT_TRUE(join(alice));
  publish_n(alice, 10);
  auto newest = history(0, 0, 4);
  ASSERT_TRUE(newest);
  EXPECT_EQ(seqs_of(newest->messages), (seqs{7, 8, 9, 10}));
  auto oldest = history(0, 4, 0);
  ASSERT_TRUE(oldest);
  EXPECT_EQ(seqs_of(oldest->messages), (seqs{1, 2, 3}));
  EXPECT_FALSE(oldest->gap);
  EXPECT_EQ(oldest->messages[0].text, "m1");
}

TEST_F(RoomStoreTest, AGapOnlyWhereRetentionRemovedMessages) {
  start(/*backlog=*/2);
  auto& alice = add_member("alice");
  ASSERT_TRUE(join(alice));
  publish_n(alice, 10);
  store::retention keep;
  keep.max_messages = 6;
  keep.max_age = std::chrono::seconds(0);
  gate->inner->trim({"lobby"}, keep, store::wall_ms(), 1000);
  auto& bob = add_member("bob");
  auto joined = join(bob, seq_t{1});
  ASSERT_TRUE(joined);
  EXPECT_TRUE(joined->gap) << "2..4 were removed";
  EXPECT_EQ(seqs_of(joined->messages), (seqs{5, 6, 7, 8, 9, 10}));
  auto& carol = add_member("carol");
  auto whole = join(carol, seq_t{4});
  ASSERT_TRUE(whole);
  EXPECT_FALSE(whole->gap) << "everything after 4 is there";
  auto h = history(0, 0, 100);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->gap);
  EXPECT_EQ(seqs_of(h->messages), (seqs{5, 6, 7, 8, 9, 10}));
}

TEST_F(RoomStoreTest, ASinceSeqPastTheRoomsSeqIsRefused) {
  start();
  auto& alice = add_member("alice");
  ASSERT_TRUE(join(alice));
  publish_n(alice, 2);
  auto& bob = add_member("bob");
  auto confused = join(bob, seq_t{7});
  ASSERT_FALSE(confused);
  EXPECT_TRUE(is(confused.error(), runtime::errc::invalid_argument));
  EXPECT_NE(sys.render(confused.error()).find("past the latest seq"), std::string::npos)
    << sys.render(confused.error());
  EXPECT_TRUE(join(bob, seq_t{2})) << "the room's own seq is fine";
}

TEST_F(RoomStoreTest, AFailedReadRefusesTheResumeAndTheRoomGoesOn) {
  start(/*backlog=*/2);
  auto& alice = add_member("alice");
  ASSERT_TRUE(join(alice));
  publish_n(alice, 5);
  {
    std::lock_guard<std::mutex> guard{gate->mtx};
    gate->fail_reads = "disk I/O error";
  }
  auto& bob = add_member("bob");
  auto failed = join(bob, seq_t{1});
  ASSERT_FALSE(failed);
  EXPECT_TRUE(is(failed.error(), runtime::errc::store_unavailable));
  {
    std::lock_guard<std::mutex> guard{gate->mtx};
    gate->fail_reads.clear();
  }
  auto again = join(bob, seq_t{1});
  ASSERT_TRUE(again) << "not left half-joined";
  EXPECT_EQ(seqs_of(again->messages), (seqs{2, 3, 4, 5}));
}

TEST_F(RoomStoreTest, ARepeatedPublishIdIsStoredOnceAndAcknowledgedWithTheFirstSeq) {
  start();
  auto& alice = add_member("alice");
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(alice));
  ASSERT_TRUE(join(bob));
  // The repeat arrives while the first copy is in the store.
  gate->set_open(false);
  self->send(room, publish_atom::value, publish_request{alice.id(), "hello", {}, "id-1"});
  gate->wait_entered(1);
  self->send(room, publish_atom::value, publish_request{alice.id(), "hello", {}, "id-1"});
  ASSERT_TRUE(ask<room_summary>(summary_atom::value));
  gate->set_open(true);
  std::vector<seq_t> acks;
  for (int i = 0; i < 2; ++i)
    self->receive([&](seq_t s) { acks.push_back(s); }, caf::after(10s) >> [] {});
  EXPECT_EQ(acks, (seqs{1, 1}));
  // After the commit, at once.
  EXPECT_EQ(seq_or_0(publish(alice, "hello", "id-1")), 1u);
  // The same id from someone else is their own message.
  EXPECT_EQ(seq_or_0(publish(bob, "hello", "id-1")), 2u);
  EXPECT_EQ(seq_or_0(publish(alice, "again")), 3u) << "no id: always a new message";
  auto h = history(0, 0, 10);
  ASSERT_TRUE(h);
  EXPECT_EQ(seqs_of(h->messages), (seqs{1, 2, 3}));
  EXPECT_EQ(bob.seqs(), (seqs{1, 2, 3})) << "delivered once each";
}

TEST_F(RoomStoreTest, APublishIdTheStoreRefusedIsAppliedOnRetry) {
  start();
  auto& alice = add_member("alice");
  ASSERT_TRUE(join(alice));
  {
    std::lock_guard<std::mutex> guard{gate->mtx};
    gate->fail = "database or disk is full";
  }
  auto refused = publish(alice, "retry me", "id-7");
  ASSERT_FALSE(refused);
  EXPECT_TRUE(is(refused.error(), runtime::errc::store_unavailable));
  {
    std::lock_guard<std::mutex> guard{gate->mtx};
    gate->fail.clear();
  }
  EXPECT_EQ(seq_or_0(publish(alice, "retry me", "id-7")), 1u);
  EXPECT_EQ(seq_or_0(publish(alice, "retry me", "id-7")), 1u);
  auto h = history(0, 0, 10);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->messages.size(), 1u);
}

TEST_F(RoomStoreTest, PublishIdsOutliveTheRoomThroughTheStore) {
  start();
  auto& alice = add_member("alice");
  ASSERT_TRUE(join(alice));
  ASSERT_EQ(seq_or_0(publish(alice, "one", "id-a")), 1u);
  ASSERT_EQ(seq_or_0(publish(alice, "two")), 2u);
  self->send_exit(room, caf::exit_reason::user_shutdown);
  self->wait_for(room);
  start(); // a new incarnation, from the store
  auto& again = add_member("alice");
  ASSERT_TRUE(join(again));
  EXPECT_EQ(seq_or_0(publish(again, "one", "id-a")), 1u) << "the stored id is known";
  EXPECT_EQ(seq_or_0(publish(again, "three", "id-b")), 3u);
}

} // namespace
