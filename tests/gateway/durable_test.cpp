// Durable rooms over the real gateway binary, a real SQLite file and a real
// PostgreSQL server: nothing acknowledged is lost to kill -9 (20 rounds at
// random moments, on either store), PostgreSQL stopped and started again
// under the gateway refuses publishes with STORE_UNAVAILABLE and recovers,
// seqs go on across restarts, a full disk refuses publishes with
// STORE_UNAVAILABLE and recovers by itself, idle rooms leave memory and come
// back from the store, and a bad data folder stops the gateway with exit 2.
#include "support/gateway_process.hpp"
#include "support/postgres.hpp"
#include "support/raw_chat.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

namespace {

using namespace parley::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace v1 = parley::v1;

struct temp_dir {
  fs::path path;
  temp_dir() {
    auto tmpl = (fs::temp_directory_path() / "parley-durable-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<std::string> sqlite_args(const fs::path& dir, std::vector<std::string> more = {}) {
  std::vector<std::string> args{"--store=sqlite", "--data-dir=" + dir.string(),
                                "--rate-limit=1000000", "--rate-burst=1000000"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::string publish_json(const std::string& ref, const std::string& room,
                         const std::string& text) {
  return R"({"ref":")" + ref + R"(","publish":{"room":")" + room + R"(","text":")" + text
         + R"("}})";
}

std::optional<v1::ServerFrame> join(raw_ws& c, const std::string& room,
                                    std::optional<uint64_t> since = {}) {
  std::string body = R"("room":")" + room + "\"";
  if (since)
    body += R"(,"sinceSeq":")" + std::to_string(*since) + "\"";
  return ask(c, "j", R"({"ref":"j","join":{)" + body + "}}");
}

// Every message of `room`, oldest first, read back page by page (history
// pages are cut at their newest end, so this walks backwards).
std::vector<v1::Message> whole_history(raw_ws& c, const std::string& room) {
  std::vector<v1::Message> all;
  uint64_t before = 0;
  for (int page = 0; page < 10'000; ++page) {
    std::string q = R"({"ref":"h","history":{"room":")" + room + R"(","limit":100)";
    if (before != 0)
      q += R"(,"beforeSeq":")" + std::to_string(before) + "\"";
    auto reply = ask(c, "h", q + "}}");
    if (!reply || !reply->ack().has_history()) {
      ADD_FAILURE() << "no history page";
      return all;
    }
    auto& msgs = reply->ack().history().messages();
    if (msgs.empty())
      break;
    all.insert(all.begin(), msgs.begin(), msgs.end());
    before = msgs.begin()->seq();
    if (before == 1)
      break;
  }
  return all;
}

std::vector<std::string> postgres_args(const std::string& url) {
  // A stable --name: the restarted gateway is the rooms' owner and takes
  // them back at once (another name would wait for the old lease).
  return {"--store=postgres", "--postgres-url=" + url, "--name=durable",
          "--rate-limit=1000000", "--rate-burst=1000000"};
}

// The kill -9 rounds on each durable store.
class DurableStores : public ::testing::TestWithParam<std::string> {
protected:
  temp_dir dir;
  std::string url;

  std::vector<std::string> args() {
    if (GetParam() == "postgres") {
      if (url.empty())
        url = fresh_postgres_database();
      return postgres_args(url);
    }
    return sqlite_args(dir.path);
  }
};

INSTANTIATE_TEST_SUITE_P(Durable, DurableStores, ::testing::Values("sqlite", "postgres"));

TEST_P(DurableStores, NothingAcknowledgedIsLostToKillNine) {
  std::random_device rd;
  auto seed = rd();
  std::mt19937 rng{seed};
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::map<uint64_t, std::string> acked; // seq -> text, from every round
  std::set<std::string> sent;
  uint64_t next_text = 0;
  constexpr int rounds = 20;
  for (int round = 0; round < rounds; ++round) {
    gateway_process gw{args()};
    ASSERT_NE(gw.port(), 0) << "round " << round;
    raw_ws c;
    ASSERT_TRUE(open_chat(c, gw.port(), "writer"));
    auto joined = join(c, "lobby");
    ASSERT_TRUE(joined && joined->ack().has_joined());
    uint64_t room_seq = joined->ack().joined().seq();
    uint64_t highest_acked = acked.empty() ? 0 : acked.rbegin()->first;
    ASSERT_GE(room_seq, highest_acked) << "round " << round << " lost acknowledged seqs";
    // Publish as fast as the window allows and kill the gateway after a
    // random number of acks, with publishes in flight.
    std::uniform_int_distribution<int> when{1, 300};
    int kill_after = when(rng);
    int acked_now = 0;
    bool killed = false;
    std::map<std::string, std::string> outstanding; // ref -> text
    for (;;) {
      while (!killed && outstanding.size() < 32) {
        auto text = "t" + std::to_string(next_text++);
        auto ref = "p" + text;
        if (!c.send_text(publish_json(ref, "lobby", text)))
          break;
        outstanding[ref] = text;
        sent.insert(text);
      }
      auto f = c.read_frame(10s);
      if (!f)
        break; // the socket closed: the process is gone
      if (f->opcode != 0x1)
        continue;
      auto res = parley::proto::decode_server(f->payload, parley::proto::encoding::json);
      auto* frame = std::get_if<v1::ServerFrame>(&res);
      if (!frame || !frame->has_ack() || !frame->ack().has_published())
        continue;
      auto o = outstanding.find(frame->ref());
      ASSERT_NE(o, outstanding.end()) << frame->ref();
      auto seq = frame->ack().published().seq();
      ASSERT_EQ(acked.count(seq), 0u) << "seq " << seq << " acknowledged twice";
      acked[seq] = o->second;
      outstanding.erase(o);
      if (++acked_now == kill_after && !killed) {
        gw.proc().signal(SIGKILL);
        killed = true;
      }
    }
    ASSERT_TRUE(killed) << "round " << round << ": the gateway stopped answering first";
    gw.proc().wait(10s);
  }
  // Back on the same data: every acknowledged seq, once, with its text;
  // seqs contiguous; nothing anyone did not send.
  gateway_process gw{args()};
  ASSERT_NE(gw.port(), 0);
  raw_ws c;
  ASSERT_TRUE(open_chat(c, gw.port(), "reader"));
  auto joined = join(c, "lobby");
  ASSERT_TRUE(joined);
  auto last = joined->ack().joined().seq();
  auto all = whole_history(c, "lobby");
  ASSERT_EQ(all.size(), last) << "seqs are not contiguous from 1";
  std::set<std::string> texts;
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i].seq(), i + 1);
    EXPECT_TRUE(texts.insert(all[i].text()).second) << all[i].text() << " stored twice";
    EXPECT_EQ(sent.count(all[i].text()), 1u) << all[i].text() << " was never sent";
  }
  for (auto& [seq, text] : acked) {
    ASSERT_LE(seq, all.size()) << "acknowledged seq " << seq << " is gone";
    EXPECT_EQ(all[seq - 1].text(), text) << "seq " << seq;
  }
  // A client that resumes gets exactly what came after its seq.
  ASSERT_GE(last, 31u);
  raw_ws resumer;
  ASSERT_TRUE(open_chat(resumer, gw.port(), "resumer"));
  auto resumed = join(resumer, "lobby", last - 30);
  ASSERT_TRUE(resumed && resumed->ack().has_joined());
  auto& got = resumed->ack().joined();
  ASSERT_EQ(got.messages_size(), 30);
  for (int i = 0; i < 30; ++i)
    EXPECT_EQ(got.messages(i).seq(), last - 29 + static_cast<uint64_t>(i));
  EXPECT_FALSE(got.gap());
  EXPECT_FALSE(got.more());
  EXPECT_EQ(gw.stop(), 0);
}

TEST(Durable, ARestartKeepsTheSeqAndTheBacklog) {
  temp_dir dir;
  {
    gateway_process gw{sqlite_args(dir.path)};
    ASSERT_NE(gw.port(), 0);
    raw_ws c;
    ASSERT_TRUE(open_chat(c, gw.port(), "alice"));
    ASSERT_TRUE(join(c, "lobby"));
    for (int i = 1; i <= 3; ++i) {
      auto ack = ask(c, "p", publish_json("p", "lobby", "before-" + std::to_string(i)));
      ASSERT_TRUE(ack && ack->ack().has_published());
      EXPECT_EQ(ack->ack().published().seq(), static_cast<uint64_t>(i));
    }
    c.close();
    EXPECT_EQ(gw.stop(), 0);
  }
  gateway_process gw{sqlite_args(dir.path)};
  ASSERT_NE(gw.port(), 0);
  raw_ws c;
  ASSERT_TRUE(open_chat(c, gw.port(), "bob"));
  auto joined = join(c, "lobby");
  ASSERT_TRUE(joined);
  auto& j = joined->ack().joined();
  EXPECT_EQ(j.seq(), 3u);
  ASSERT_EQ(j.messages_size(), 3);
  EXPECT_EQ(j.messages(2).text(), "before-3");
  EXPECT_EQ(j.messages(2).sender(), "~alice");
  auto ack = ask(c, "p", publish_json("p", "lobby", "after"));
  ASSERT_TRUE(ack && ack->ack().has_published());
  EXPECT_EQ(ack->ack().published().seq(), 4u) << "no second seq 1";
  // A sinceSeq past the room's seq is refused, not silently accepted.
  raw_ws d;
  ASSERT_TRUE(open_chat(d, gw.port(), "carol"));
  auto confused = join(d, "lobby", 99);
  ASSERT_TRUE(confused);
  EXPECT_EQ(confused->error().code(), v1::ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_NE(confused->error().reason().find("past the latest seq"), std::string::npos)
    << confused->error().reason();
}

TEST(Durable, AFullDiskRefusesPublishesAndTheGatewayRecoversByItself) {
  temp_dir dir;
  // A soft limit, which the process may raise again (below, from outside).
  gateway_process gw{sqlite_args(dir.path), {"/usr/bin/prlimit", "--fsize=262144:unlimited", "--"}};
  ASSERT_NE(gw.port(), 0);
  raw_ws c;
  ASSERT_TRUE(open_chat(c, gw.port(), "alice"));
  ASSERT_TRUE(join(c, "lobby"));
  std::string big(2000, 'x');
  uint64_t last_acked = 0;
  std::optional<v1::ServerFrame> refusal;
  for (int i = 0; i < 1000 && !refusal; ++i) {
    auto reply = ask(c, "p", publish_json("p", "lobby", big));
    ASSERT_TRUE(reply);
    if (reply->ack().has_published())
      last_acked = reply->ack().published().seq();
    else
      refusal = reply;
  }
  ASSERT_TRUE(refusal) << "256 KiB held 1000 messages of 2 KB";
  EXPECT_EQ(refusal->error().code(), v1::ERROR_CODE_STORE_UNAVAILABLE)
    << refusal->DebugString() << gw.log();
  // More refusals, one log line; reads go on.
  for (int i = 0; i < 3; ++i) {
    auto again = ask(c, "p", publish_json("p", "lobby", big));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->error().code(), v1::ERROR_CODE_STORE_UNAVAILABLE);
  }
  await_log(gw, "store: commit failed");
  EXPECT_EQ(metric(gw.port(), "parley_store_failing"), 1);
  raw_ws reader;
  ASSERT_TRUE(open_chat(reader, gw.port(), "bob"));
  auto joined = join(reader, "lobby");
  ASSERT_TRUE(joined && joined->ack().has_joined());
  EXPECT_EQ(joined->ack().joined().seq(), last_acked) << "nothing refused was counted";
  // Room again: the next publish takes the next seq.
  auto cmd = "/usr/bin/prlimit --pid " + std::to_string(gw.proc().pid()) + " --fsize=unlimited";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto ok = ask(c, "p", publish_json("p", "lobby", "room again"));
  ASSERT_TRUE(ok && ok->ack().has_published()) << (ok ? ok->DebugString() : "no reply");
  EXPECT_EQ(ok->ack().published().seq(), last_acked + 1);
  await_log(gw, "store: commits work again after 4 failed commits");
  // Logged in order by one thread: four refusals, one line.
  EXPECT_EQ(gw.proc().count("store: commit failed"), 1u) << gw.log();
  EXPECT_EQ(metric(gw.port(), "parley_store_failing"), 0);
}

TEST(Durable, IdleRoomsLeaveMemoryAndComeBackFromTheStore) {
  temp_dir dir;
  // At debug level each room says when it stops idle: the test waits for that.
  gateway_process gw{sqlite_args(dir.path, {"--room-idle-timeout=1", "--log-level=debug"})};
  ASSERT_NE(gw.port(), 0);
  raw_ws c;
  ASSERT_TRUE(open_chat(c, gw.port(), "alice"));
  constexpr int n = 50;
  for (int i = 0; i < n; ++i) {
    auto room = "r" + std::to_string(i);
    ASSERT_TRUE(join(c, room));
    auto ack = ask(c, "p", publish_json("p", room, "hello " + room));
    ASSERT_TRUE(ack && ack->ack().has_published());
    auto left = ask(c, "l", R"({"ref":"l","leave":{"room":")" + room + R"("}})");
    ASSERT_TRUE(left);
  }
  EXPECT_EQ(metric(gw.port(), "parley_rooms_started_total"), n);
  // Every room stops after a second without members.
  ASSERT_TRUE(gw.proc().wait_for_count(": idle, stopping", n, 20s)) << gw.log();
  EXPECT_EQ(metric(gw.port(), "parley_rooms_open"), 0);
  // And comes back with its history.
  auto joined = join(c, "r7");
  ASSERT_TRUE(joined && joined->ack().has_joined());
  EXPECT_EQ(joined->ack().joined().seq(), 1u);
  ASSERT_EQ(joined->ack().joined().messages_size(), 1);
  EXPECT_EQ(joined->ack().joined().messages(0).text(), "hello r7");
  EXPECT_EQ(metric(gw.port(), "parley_store_loads_total"), n + 1);
}

// -- a bad data folder stops the gateway before it listens ---------------------------

std::pair<int, std::string> start_and_fail(const fs::path& data_dir) {
  process p({PARLEY_GATEWAY_BIN, "--port=0", "--store=sqlite", "--data-dir=" + data_dir.string()});
  auto status = p.wait(30s).value_or(-1);
  return {status, p.err()};
}

TEST(DurableBadData, AFolderThatCannotBeCreated) {
  temp_dir dir;
  std::ofstream{dir.path / "file"} << "x";
  auto [status, err] = start_and_fail(dir.path / "file" / "data");
  EXPECT_EQ(status, 2);
  EXPECT_NE(err.find("cannot create the data folder"), std::string::npos) << err;
}

TEST(DurableBadData, AFileThatIsNotADatabase) {
  temp_dir dir;
  std::ofstream{dir.path / "history.db"} << std::string(8192, 'z');
  auto [status, err] = start_and_fail(dir.path);
  EXPECT_EQ(status, 2);
  EXPECT_NE(err.find("not a Parley history database"), std::string::npos) << err;
  EXPECT_EQ(fs::file_size(dir.path / "history.db"), 8192u) << "left as it was";
}

TEST(DurableBadData, ADatabaseFromANewerParley) {
  temp_dir dir;
  {
    SQLite::Database db{(dir.path / "history.db").string(),
                        SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE};
    db.exec("CREATE TABLE rooms (id INTEGER PRIMARY KEY); PRAGMA user_version = 7");
  }
  auto [status, err] = start_and_fail(dir.path);
  EXPECT_EQ(status, 2);
  EXPECT_NE(err.find("written by a newer Parley"), std::string::npos) << err;
}

TEST(DurableBadData, AFolderAnotherGatewayUses) {
  temp_dir dir;
  gateway_process first{sqlite_args(dir.path)};
  ASSERT_NE(first.port(), 0);
  auto [status, err] = start_and_fail(dir.path);
  EXPECT_EQ(status, 2);
  EXPECT_NE(err.find("in use by another running gateway"), std::string::npos) << err;
}

TEST(DurableBadData, AClusterOnSqliteNeedsToSaySo) {
  temp_dir dir;
  process p({PARLEY_GATEWAY_BIN, "--port=0", "--store=sqlite", "--data-dir=" + dir.path.string(),
             "--name=a", "--cluster-port=0", "--cluster-insecure"});
  auto status = p.wait(30s).value_or(-1);
  EXPECT_EQ(status, 2);
  EXPECT_NE(p.err().find("--allow-sqlite-cluster"), std::string::npos) << p.err();
}

TEST(Durable, PostgresStoppedUnderTheGatewayRefusesPublishesAndRecoversByItself) {
  // A server of this test's own, to stop and start.
  auto own = postgres_dir() + "-gw-" + std::to_string(::getpid());
  auto script = parley::test::postgres_script();
  ASSERT_EQ(std::system(("bash " + script + " start " + own + " >/dev/null").c_str()), 0);
  std::ifstream in{own + "/url"};
  std::string url;
  std::getline(in, url);
  {
    gateway_process gw{postgres_args(url)};
    ASSERT_NE(gw.port(), 0);
    raw_ws c;
    ASSERT_TRUE(open_chat(c, gw.port(), "alice"));
    ASSERT_TRUE(join(c, "lobby"));
    auto ok = ask(c, "p1", publish_json("p1", "lobby", "before"));
    ASSERT_TRUE(ok && ok->ack().has_published());
    EXPECT_EQ(ok->ack().published().seq(), 1u);
    ASSERT_EQ(std::system(("bash " + script + " stop " + own).c_str()), 0);
    auto refused = ask(c, "p2", publish_json("p2", "lobby", "while down"));
    ASSERT_TRUE(refused && refused->has_error());
    EXPECT_EQ(refused->error().code(), v1::ERROR_CODE_STORE_UNAVAILABLE)
      << refused->DebugString();
    // Reads go on from memory while the store is away.
    raw_ws reader;
    ASSERT_TRUE(open_chat(reader, gw.port(), "bob"));
    auto joined = join(reader, "lobby");
    ASSERT_TRUE(joined && joined->ack().has_joined()) << (joined ? joined->DebugString() : "");
    EXPECT_EQ(joined->ack().joined().seq(), 1u);
    ASSERT_EQ(std::system(("bash " + script + " start " + own + " >/dev/null").c_str()), 0);
    auto back = ask(c, "p3", publish_json("p3", "lobby", "after"));
    ASSERT_TRUE(back && back->ack().has_published()) << (back ? back->DebugString() : "");
    EXPECT_EQ(back->ack().published().seq(), 2u) << "the refused publish took no seq";
    await_log(gw, "store: commit failed, refusing publishes");
    await_log(gw, "store: commits work again after 1 failed commits");
    EXPECT_EQ(gw.stop(), 0);
  }
  std::system(("bash " + script + " rm " + own).c_str());
}

TEST(Durable, AnUnreachableOrNewerPostgresStopsTheGatewayWithExitTwo) {
  {
    process p{{PARLEY_GATEWAY_BIN, "--port=0", "--store=postgres",
               "--postgres-url=postgresql://nobody@127.0.0.1:9/x"}};
    EXPECT_EQ(p.wait(30s).value_or(-1), 2);
    EXPECT_NE(p.err().find("--store=postgres: PostgreSQL:"), std::string::npos) << p.err();
  }
  {
    process p{{PARLEY_GATEWAY_BIN, "--port=0", "--store=postgres"}};
    EXPECT_EQ(p.wait(30s).value_or(-1), 2);
    EXPECT_NE(p.err().find("needs --postgres-url"), std::string::npos) << p.err();
  }
  auto url = fresh_postgres_database();
  ASSERT_EQ(postgres_exec(url, "CREATE TABLE parley_schema (version int NOT NULL);"
                               "INSERT INTO parley_schema VALUES (7)"),
            "");
  process p{{PARLEY_GATEWAY_BIN, "--port=0", "--store=postgres", "--postgres-url=" + url}};
  EXPECT_EQ(p.wait(30s).value_or(-1), 2);
  EXPECT_NE(p.err().find("newer Parley (schema version 7"), std::string::npos) << p.err();
}

// A client that lost an ack (the gateway killed between the commit and the
// ack) publishes again with the same id after the restart: stored once.
TEST_P(DurableStores, ARetryWithTheSameIdAfterAKillIsStoredOnce) {
  auto with_id = [](const std::string& ref, const std::string& text, const std::string& id) {
    return R"({"ref":")" + ref + R"(","publish":{"room":"lobby","text":")" + text
           + R"(","id":")" + id + R"("}})";
  };
  {
    gateway_process gw{args()};
    ASSERT_NE(gw.port(), 0);
    raw_ws c;
    ASSERT_TRUE(open_chat(c, gw.port(), "alice"));
    ASSERT_TRUE(join(c, "lobby"));
    auto ack = ask(c, "p1", with_id("p1", "only once", "msg-1"));
    ASSERT_TRUE(ack && ack->ack().has_published());
    EXPECT_EQ(ack->ack().published().seq(), 1u);
    gw.proc().signal(SIGKILL);
    gw.proc().wait(10s);
  }
  gateway_process gw{args()};
  ASSERT_NE(gw.port(), 0);
  raw_ws c;
  ASSERT_TRUE(open_chat(c, gw.port(), "alice"));
  ASSERT_TRUE(join(c, "lobby"));
  auto again = ask(c, "p2", with_id("p2", "only once", "msg-1"));
  ASSERT_TRUE(again && again->ack().has_published()) << (again ? again->DebugString() : "");
  EXPECT_EQ(again->ack().published().seq(), 1u) << "acknowledged with the first one's seq";
  auto next = ask(c, "p3", with_id("p3", "another", "msg-2"));
  ASSERT_TRUE(next && next->ack().has_published());
  EXPECT_EQ(next->ack().published().seq(), 2u);
  auto all = whole_history(c, "lobby");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].text(), "only once");
  EXPECT_EQ(all[1].text(), "another");
  EXPECT_EQ(gw.stop(), 0);
}

} // namespace
