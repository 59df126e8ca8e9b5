// The gateway's configuration from a file, the environment and flags, and
// its supervision tree, against the real binary.

#include "parley/proto/codec.hpp"
#include "support/gateway_process.hpp"
#include "support/raw_chat.hpp"
#include "support/raw_ws.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <utility>
#include <string>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using namespace parley::test;
using parley::proto::encoding;
namespace v1 = parley::v1;

// -- configuration: file, environment, flags --------------------------------------

namespace {

std::string write_file(const std::string& name, const std::string& text) {
  auto path = ::testing::TempDir() + name;
  std::ofstream{path} << text;
  return path;
}

/// One line on stderr and status 2, without starting to listen.
void expect_refused(std::vector<std::string> argv, const std::string& mentions) {
  auto res = parley::test::run_program(std::move(argv), std::chrono::seconds(30));
  ASSERT_TRUE(res.status) << "did not exit";
  EXPECT_EQ(*res.status, 2) << res.err;
  EXPECT_NE(res.err.find(mentions), std::string::npos) << res.err;
  EXPECT_EQ(std::count(res.err.begin(), res.err.end(), '\n'), 1) << res.err;
  EXPECT_EQ(res.err.find("listening"), std::string::npos);
}

} // namespace

TEST(GatewayConfig, AConfigFileSetsTheLimits) {
  auto path = write_file("gw-ok.toml", "# a gateway\nmax-connections-per-address = 1\n"
                                       "idle-timeout = 120\n");
  gateway_process gw{{"--config=" + path}};
  ASSERT_NE(gw.port(), 0);
  raw_ws a, b;
  ASSERT_TRUE(a.connect(gw.port()));
  ASSERT_EQ(a.handshake(), 101);
  ASSERT_TRUE(b.connect(gw.port()));
  EXPECT_EQ(b.handshake(), 503) << "the file's per-address limit of 1 applies";
}

// The example of the docs: the environment beats the file, a flag both.
TEST(GatewayConfig, TheEnvironmentBeatsTheFileAndAFlagBeatsBoth) {
  auto path = write_file("gw-backlog.toml", "backlog = 5\n");
  auto backlog_of = [](gateway_process& gw) -> int64_t {
    raw_ws c;
    if (!c.connect(gw.port()) || c.handshake() != 101)
      return -1;
    auto welcome = ask(c, "h", R"({"ref":"h","hello":{"user":"ann"}})");
    return welcome ? static_cast<int64_t>(welcome->ack().welcome().limits().backlog()) : -1;
  };
  {
    gateway_process gw{{"--config=" + path}};
    ASSERT_NE(gw.port(), 0);
    EXPECT_EQ(backlog_of(gw), 5) << "the file beats the default";
  }
  ::setenv("PARLEY_BACKLOG", "7", 1); // the gateway process inherits it
  {
    gateway_process gw{{"--config=" + path}};
    ASSERT_NE(gw.port(), 0);
    EXPECT_EQ(backlog_of(gw), 7) << "the environment beats the file";
  }
  {
    gateway_process gw{{"--config=" + path, "--backlog=9"}};
    ASSERT_NE(gw.port(), 0);
    EXPECT_EQ(backlog_of(gw), 9) << "a flag beats both";
  }
  ::unsetenv("PARLEY_BACKLOG");
}

TEST(GatewayConfig, BadValuesFromAnySourceAreRefusedInOneLine) {
  const std::string bin = PARLEY_GATEWAY_BIN;
  expect_refused({bin, "--idle-timeout=0"}, "--idle-timeout");
  expect_refused({bin, "--rate-limit=fast"}, "--rate-limit");
  expect_refused({bin, "--max-connections-per-address=-1"}, "--max-connections-per-address");
  expect_refused({bin, "--outbound-bytes=12"}, "--outbound-bytes");
  expect_refused({bin, "--drain-timeout"}, "--drain-timeout");
  // The HTTP transports' timeouts: whole seconds from 1.
  expect_refused({bin, "--poll-timeout=0"}, "--poll-timeout");
  expect_refused({bin, "--poll-timeout=301"}, "--poll-timeout");
  expect_refused({bin, "--session-idle-timeout=soon"}, "--session-idle-timeout");
  expect_refused({bin, "--sse-keepalive=-5"}, "--sse-keepalive");
  // The scheduler and where actors run.
  expect_refused({bin, "--scheduler=fifo"}, "--scheduler");
  expect_refused({bin, "--io-runs-actors=sometimes"}, "--io-runs-actors");
  // Cluster TLS flags without a cluster port would be ignored: refused.
  expect_refused({bin, "--cluster-cert=node.pem"}, "need --cluster-port");
  expect_refused({bin, "--cluster-insecure"}, "need --cluster-port");
  // Each error names its source: the variable or the file and line, not a
  // flag that was never given.
  expect_refused({"/usr/bin/env", "PARLEY_IDLE_TIMEOUT=soon", bin},
                 "environment PARLEY_IDLE_TIMEOUT=soon: expected a number from 1 to 86400");
  expect_refused({"/usr/bin/env", "PARLEY_MAX_CONNECTIONS=0", bin},
                 "environment PARLEY_MAX_CONNECTIONS=0: expected a number from 1");
  auto bad = write_file("gw-bad.toml", "port = 8080\nhandshake-timeout = \"x\"\n");
  expect_refused({bin, "--config=" + bad},
                 bad + ":2: handshake-timeout = \"x\": expected a number from 1 to 3600");
  expect_refused({bin, "--config=" + write_file("gw-unknown.toml", "max-conections = 5\n")},
                 "unknown key 'max-conections' (did you mean 'max-connections'?)");
  expect_refused({bin, "--config=" + write_file("gw-syntax.toml", "port = = 3\n")},
                 "gw-syntax.toml:1:");
  expect_refused({bin, "--config=" + write_file("gw-garbage.toml", "[[[\n\x01\x02=\n")}, "");
  expect_refused({bin, "--config=/nonexistent/parley.toml"}, "/nonexistent/parley.toml");
}

// The stock gateway's behaviours, given to rooms by configuration (run.hpp).
TEST(GatewayConfig, RoomsGetTheBehaviourTheConfigurationNames) {
  auto path = write_file("gw-behaviors.toml",
                         "room-behavior = [\"dice:*=dice-bot\", \"games:main=tic-tac-toe\"]\n");
  gateway_process gw{{"--config=" + path}};
  ASSERT_NE(gw.port(), 0);
  raw_ws c;
  ASSERT_TRUE(open_chat(c, gw.port(), "ann"));
  // What the room shows first after a join: a greeting bot speaks at the
  // join, before the "hi" the test publishes right after it.
  auto first_after_join = [&](const std::string& room) {
    auto joined = ask(c, "j-" + room, R"({"ref":"j-)" + room + R"(","join":{"room":")" + room + R"("}})");
    if (!joined || !joined->ack().has_joined())
      return std::string{"join refused"};
    if (!c.send_text(R"({"ref":"hi-)" + room + R"(","publish":{"room":")" + room + R"(","text":"hi"}})"))
      return std::string{"publish failed"};
    auto m = read_until(
      c, [&](const v1::ServerFrame& f) { return f.has_message() && f.message().room() == room; });
    return m ? m->message().sender() + ": " + m->message().text() : std::string{"nothing"};
  };
  EXPECT_EQ(first_after_join("dice:1"), "#dice-bot: welcome, ~ann! type /help for dice commands")
    << "a room the prefix rule matches";
  EXPECT_EQ(first_after_join("lobby"), "~ann: hi") << "no rule, no behaviour";
  // A whole name matches that room only: tic-tac-toe in games:main, which
  // seats the first player and refuses a move without an opponent.
  EXPECT_EQ(first_after_join("games:main").rfind("#tic-tac-toe: ~ann plays X\n", 0), 0u);
  auto move = ask(c, "m", R"({"ref":"m","publish":{"room":"games:main","text":"/move 5"}})");
  ASSERT_TRUE(move);
  EXPECT_TRUE(move->has_error()) << move->DebugString();
  EXPECT_EQ(first_after_join("games:other"), "~ann: hi");
  auto chat = ask(c, "m2", R"({"ref":"m2","publish":{"room":"games:other","text":"/move 5"}})");
  ASSERT_TRUE(chat);
  EXPECT_TRUE(chat->ack().has_published()) << "no game in games:other: just chat";
}

TEST(GatewayConfig, ABehaviourThatIsNotThereIsRefusedByName) {
  const std::string bin = PARLEY_GATEWAY_BIN;
  expect_refused({bin, "--room-behavior=games:*=chess"},
                 "no behaviour called 'chess' (known: dice-bot, tic-tac-toe)");
  expect_refused({bin, "--room-behavior=lobby"}, "a room behaviour is PATTERN=NAME");
  expect_refused({bin, "--room-behavior==dice-bot"}, "a room behaviour is PATTERN=NAME");
  expect_refused({bin, "--room-behavior=lob by=dice-bot"}, "'lob by' is not a room, PREFIX* or *");
  expect_refused({"/usr/bin/env", "PARLEY_ROOM_BEHAVIOR=x=nope", bin},
                 "environment PARLEY_ROOM_BEHAVIOR=x=nope");
  expect_refused({bin, "--config=" + write_file("gw-behavior-bad.toml", "room-behavior = 5\n")},
                 "gw-behavior-bad.toml:1:");
}

// Every program of the project answers --version with what was built.
TEST(Programs, VersionSaysWhatWasBuilt) {
  std::vector<std::pair<std::string, std::string>> programs{
    {PARLEY_GATEWAY_BIN, "parley-gateway"},
    {PARLEY_CLI_BIN, "parley-cli"},
    {PARLEY_EXAMPLE_BIN, "example_ping_pong"},
#ifdef PARLEY_BENCH_BIN
    {PARLEY_BENCH_BIN, "parley-bench"},
    {PARLEY_STORE_BENCH_BIN, "store_bench"},
    {PARLEY_ROOMS_MEMORY_BENCH_BIN, "rooms_memory_bench"},
#endif
  };
  for (auto& [bin, name] : programs) {
    auto res = parley::test::run_program({bin, "--version"}, 30s);
    ASSERT_TRUE(res.status) << name;
    EXPECT_EQ(*res.status, 0) << name << ": " << res.err;
    // "parley-gateway 0.1.0 (commit 0123456789ab, Debug)", from the build.
    EXPECT_EQ(res.out.rfind(name + " " PARLEY_PROJECT_VERSION " (commit ", 0), 0u) << res.out;
    if (std::filesystem::exists(PARLEY_SOURCE_DIR "/.git")) {
      EXPECT_EQ(res.out.find("unknown"), std::string::npos) << "built in a git checkout: " << res.out;
    }
    EXPECT_EQ(std::count(res.out.begin(), res.out.end(), '\n'), 1) << res.out;
  }
}

TEST(GatewayTree, EachWebSocketHasOneConnectionActorUntilItCloses) {
  // At debug level the connections' supervisor logs each child that ends.
  gateway_process gw{{"--log-level=debug"}};
  ASSERT_NE(gw.port(), 0);
  const std::string actors = "parley_connection_actors";
  EXPECT_EQ(metric(gw.port(), actors), 0);
  {
    raw_ws a, b;
    ASSERT_TRUE(open_chat(a, gw.port(), "ann"));
    ASSERT_TRUE(open_chat(b, gw.port(), "bob"));
    EXPECT_EQ(metric(gw.port(), actors), 2);
    EXPECT_EQ(metric(gw.port(), "parley_gateway_websockets"), 2);
  }
  // Gone with their sockets: a connection actor's supervisor sees it end
  // after its state (which the gauge counts) is destroyed.
  await_log(gw, ", not restarted", 2);
  EXPECT_EQ(metric(gw.port(), actors), 0) << "connection actors outlived their sockets";
  EXPECT_EQ(metric(gw.port(), "parley_gateway_websockets"), 0);
  EXPECT_EQ(metric(gw.port(), "parley_gateway_outbound_queued_frames"), 0);
  EXPECT_EQ(metric(gw.port(), "parley_gateway_outbound_queued_bytes"), 0);
}
