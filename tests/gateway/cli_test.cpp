// parley-cli as a real process against the real parley-gateway binary:
// every subcommand, JSON and binary wire modes, stdin publishing, tail with
// another process publishing, signals, and the exit statuses of bad input.
// Every wait is bounded by a process timeout; nothing sleeps.

#include "parley/client/ws_client.hpp"
#include "parley/proto/codec.hpp"
#include "support/gateway_process.hpp"
#include "support/process.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using parley::test::gateway_process;
using parley::test::process;
using parley::test::run_result;
namespace v1 = parley::v1;

namespace {

constexpr auto run_timeout = 60s;

/// Each line of `out` decoded as a ServerFrame in the JSON mapping; a line
/// that is not one fails the test.
std::vector<v1::ServerFrame> frames_of(const std::string& out) {
  std::vector<v1::ServerFrame> frames;
  std::istringstream in{out};
  std::string line;
  while (std::getline(in, line)) {
    auto res = parley::proto::decode_server(line, parley::proto::encoding::json);
    if (auto* err = std::get_if<parley::proto::decode_error>(&res)) {
      ADD_FAILURE() << "not a ServerFrame: " << line << ": " << err->reason;
      continue;
    }
    frames.push_back(std::get<v1::ServerFrame>(std::move(res)));
  }
  return frames;
}

size_t lines_of(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

/// Runs parley-cli with `args`, no gateway needed.
run_result cli(std::vector<std::string> args) {
  args.insert(args.begin(), PARLEY_CLI_BIN);
  return parley::test::run_program(std::move(args), run_timeout);
}

/// A port nothing listens on: bound (so nobody else takes it) but not
/// listening, so a connect is refused at once.
class dead_port {
public:
  dead_port() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0
        || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      return;
    port_ = ntohs(addr.sin_port);
  }
  ~dead_port() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  uint16_t port() const {
    return port_;
  }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

class CliTest : public ::testing::Test {
protected:
  void SetUp() override {
    gateway = std::make_unique<gateway_process>();
    ASSERT_NE(gateway->port(), 0);
    url = "--url=ws://127.0.0.1:" + std::to_string(gateway->port()) + "/ws";
  }

  /// parley-cli against the gateway: `args` go after --url.
  run_result run(std::vector<std::string> args) {
    args.insert(args.begin(), url);
    return cli(std::move(args));
  }

  /// Starts parley-cli against the gateway without waiting for it.
  std::unique_ptr<process> start(std::vector<std::string> args) {
    args.insert(args.begin(), url);
    args.insert(args.begin(), PARLEY_CLI_BIN);
    return std::make_unique<process>(std::move(args));
  }

  /// Runs `command` with /bin/sh, where $CLI is parley-cli with --url.
  run_result shell(const std::string& command) {
    return parley::test::run_program(
      {"/bin/sh", "-c", "CLI='" PARLEY_CLI_BIN " " + url + "'; " + command}, run_timeout);
  }

  /// The gateway's count of inbound WebSocket messages of one kind.
  double frames_in(const std::string& kind) {
    auto reply = parley::client::http_get(gateway->port(), "/metrics");
    EXPECT_EQ(reply.status, 200);
    auto key = "parley_gateway_frames_total{direction=\"in\",kind=\"" + kind
               + "\",transport=\"websocket\"} ";
    auto pos = reply.body.find(key);
    if (pos == std::string::npos) {
      ADD_FAILURE() << "no " << key << " in /metrics";
      return -1;
    }
    return std::stod(reply.body.substr(pos + key.size()));
  }

  /// publish as ann, then join: the backlog holds the message, and the
  /// wire carried only the frame type of `binary`.
  void publish_then_join(bool binary) {
    std::vector<std::string> mode;
    if (binary)
      mode.push_back("--binary");
    auto with = [&](std::vector<std::string> args) {
      args.insert(args.begin(), mode.begin(), mode.end());
      return args;
    };
    auto pub = run(with({"--user=ann", "publish", "lobby", "hello,", "lobby"}));
    ASSERT_EQ(pub.status, 0) << pub.err;
    auto acks = frames_of(pub.out);
    ASSERT_EQ(acks.size(), 1u) << pub.out;
    ASSERT_TRUE(acks[0].ack().has_published()) << pub.out;
    EXPECT_EQ(acks[0].ack().published().seq(), 1u);

    auto join = run(with({"join", "lobby"}));
    ASSERT_EQ(join.status, 0) << join.err;
    auto frames = frames_of(join.out);
    ASSERT_EQ(frames.size(), 1u) << join.out;
    ASSERT_TRUE(frames[0].ack().has_joined()) << join.out;
    const auto& joined = frames[0].ack().joined();
    EXPECT_EQ(joined.room(), "lobby");
    EXPECT_EQ(joined.seq(), 1u);
    ASSERT_EQ(joined.messages_size(), 1) << join.out;
    EXPECT_EQ(joined.messages(0).sender(), "~ann") << "a guest (the default --auth)";
    EXPECT_EQ(joined.messages(0).text(), "hello, lobby");
    EXPECT_TRUE(join.err.empty()) << join.err;

    EXPECT_GT(frames_in(binary ? "binary" : "text"), 0);
    EXPECT_EQ(frames_in(binary ? "text" : "binary"), 0);
  }

  std::unique_ptr<gateway_process> gateway;
  std::string url;
};

// -- the subcommands ---------------------------------------------------------------

TEST_F(CliTest, ConnectPrintsTheWelcome) {
  auto res = run({"connect"});
  ASSERT_EQ(res.status, 0) << res.err;
  auto frames = frames_of(res.out);
  ASSERT_EQ(frames.size(), 1u) << res.out;
  ASSERT_TRUE(frames[0].ack().has_welcome()) << res.out;
  EXPECT_FALSE(frames[0].ack().welcome().session_id().empty());
  EXPECT_GT(frames[0].ack().welcome().limits().max_frame_bytes(), 0u);
  EXPECT_TRUE(res.err.empty()) << res.err;
}

TEST_F(CliTest, PublishThenJoinShowsTheBacklogInJsonMode) {
  publish_then_join(false);
}

TEST_F(CliTest, PublishThenJoinShowsTheBacklogInBinaryMode) {
  publish_then_join(true);
}

TEST_F(CliTest, JoinSinceShowsOnlyLaterMessages) {
  for (auto text : {"one", "two", "three"})
    ASSERT_EQ(run({"publish", "news", text}).status, 0);
  auto res = run({"join", "news", "--since", "2"});
  ASSERT_EQ(res.status, 0) << res.err;
  auto frames = frames_of(res.out);
  ASSERT_EQ(frames.size(), 1u);
  const auto& joined = frames[0].ack().joined();
  ASSERT_EQ(joined.messages_size(), 1) << res.out;
  EXPECT_EQ(joined.messages(0).text(), "three");
  EXPECT_EQ(joined.messages(0).seq(), 3u);
}

TEST_F(CliTest, PrettyPrintsLinesForPeople) {
  ASSERT_EQ(run({"--user=ann", "publish", "lobby", "hi", "there"}).status, 0);
  ASSERT_EQ(run({"--user=bob", "publish", "lobby", "tab\there\x1b[31m"}).status, 0);
  auto res = run({"--pretty", "--user=cid", "join", "lobby"});
  ASSERT_EQ(res.status, 0) << res.err;
  EXPECT_NE(res.out.find("joined lobby at #2"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("lobby #1 <~ann> hi there\n"), std::string::npos) << res.out;
  // Control characters are shown, not sent to the terminal.
  EXPECT_NE(res.out.find("lobby #2 <~bob> tab\\there\\x1b[31m\n"), std::string::npos) << res.out;
}

TEST_F(CliTest, PublishesEachStdinLine) {
  // A blank line is skipped; the last line needs no newline; CRLF is fine.
  auto res = shell("printf 'first\\n\\nsecond\\r\\nthird' | $CLI --user=ops publish ops -");
  ASSERT_EQ(res.status, 0) << res.err;
  auto acks = frames_of(res.out);
  ASSERT_EQ(acks.size(), 3u) << res.out;
  for (size_t i = 0; i < acks.size(); ++i)
    EXPECT_EQ(acks[i].ack().published().seq(), i + 1) << res.out;

  auto join = run({"join", "ops"});
  ASSERT_EQ(join.status, 0) << join.err;
  auto frames = frames_of(join.out);
  ASSERT_EQ(frames.size(), 1u);
  const auto& messages = frames[0].ack().joined().messages();
  ASSERT_EQ(messages.size(), 3) << join.out;
  EXPECT_EQ(messages[0].text(), "first");
  EXPECT_EQ(messages[1].text(), "second");
  EXPECT_EQ(messages[2].text(), "third");
  EXPECT_EQ(messages[2].sender(), "~ops");
}

TEST_F(CliTest, TailReceivesAnotherProcessesMessageAndExitsAfterCount) {
  ASSERT_EQ(run({"publish", "watch", "before"}).status, 0);
  auto tail = start({"--binary", "tail", "watch", "--count=2"});
  // The joined ack is the first line: from then on the tail is a member.
  ASSERT_TRUE(tail->wait_for_output("\"joined\"", run_timeout)) << tail->err();
  auto pub = run({"--user=ann", "publish", "watch", "live", "one"});
  ASSERT_EQ(pub.status, 0) << pub.err;
  ASSERT_EQ(run({"--user=bob", "publish", "watch", "live two"}).status, 0);
  ASSERT_EQ(tail->wait(run_timeout), 0) << tail->err();

  auto frames = frames_of(tail->out());
  ASSERT_FALSE(frames.empty());
  ASSERT_TRUE(frames[0].ack().has_joined());
  ASSERT_EQ(frames[0].ack().joined().messages_size(), 1); // the backlog
  EXPECT_EQ(frames[0].ack().joined().messages(0).text(), "before");
  std::vector<std::string> live;
  for (auto& f : frames)
    if (f.has_message())
      live.push_back(f.message().sender() + ": " + f.message().text());
  EXPECT_EQ(live, (std::vector<std::string>{"~ann: live one", "~bob: live two"}));
}

TEST_F(CliTest, TailStopsCleanlyOnSigint) {
  auto tail = start({"tail", "quiet"});
  ASSERT_TRUE(tail->wait_for_output("\"joined\"", run_timeout)) << tail->err();
  tail->signal(SIGINT);
  EXPECT_EQ(tail->wait(run_timeout), 0) << tail->err();
  EXPECT_TRUE(tail->err().empty()) << tail->err();
}

TEST_F(CliTest, TailReportsTheServerClosingAndExits1) {
  auto tail = start({"tail", "lobby"});
  ASSERT_TRUE(tail->wait_for_output("\"joined\"", run_timeout)) << tail->err();
  gateway->stop(); // drains: closes every WebSocket with 1001
  EXPECT_EQ(tail->wait(run_timeout), 1) << tail->err();
  EXPECT_NE(tail->err().find("1001"), std::string::npos) << tail->err();
  EXPECT_EQ(lines_of(tail->err()), 1u) << tail->err();
}

TEST_F(CliTest, RoomsListsOpenRooms) {
  ASSERT_EQ(run({"publish", "alpha", "x"}).status, 0);
  auto res = run({"rooms"});
  ASSERT_EQ(res.status, 0) << res.err;
  auto frames = frames_of(res.out);
  ASSERT_EQ(frames.size(), 1u) << res.out;
  ASSERT_TRUE(frames[0].ack().has_rooms()) << res.out;
  bool found = false;
  for (const auto& r : frames[0].ack().rooms().rooms())
    if (r.name() == "alpha") {
      found = true;
      EXPECT_EQ(r.last_seq(), 1u);
    }
  EXPECT_TRUE(found) << res.out;
}

TEST_F(CliTest, PingPrintsThePong) {
  auto res = run({"ping"});
  ASSERT_EQ(res.status, 0) << res.err;
  auto frames = frames_of(res.out);
  ASSERT_EQ(frames.size(), 1u) << res.out;
  EXPECT_TRUE(frames[0].ack().has_pong()) << res.out;
  EXPECT_GT(frames[0].ack().pong().client_time_ms(), 0u);
}

// -- what the server refuses: exit 1, the reason on stderr -------------------------

TEST_F(CliTest, InvalidRoomNameIsAServerErrorWithStatus1) {
  auto res = run({"join", "no spaces!"});
  EXPECT_EQ(res.status, 1) << res.err;
  EXPECT_TRUE(res.out.empty()) << res.out;
  EXPECT_NE(res.err.find("ERROR_CODE_INVALID_ROOM_NAME"), std::string::npos) << res.err;
  EXPECT_EQ(lines_of(res.err), 1u) << res.err;
}

TEST_F(CliTest, InvalidUserNameIsAServerErrorWithStatus1) {
  auto res = run({"--user=no/slashes", "connect"});
  EXPECT_EQ(res.status, 1) << res.err;
  EXPECT_NE(res.err.find("ERROR_CODE_INVALID_ARGUMENT"), std::string::npos) << res.err;
}

TEST_F(CliTest, UnknownPathIsRefusedWithTheHttpStatus) {
  auto res = cli({"--url=ws://127.0.0.1:" + std::to_string(gateway->port()) + "/nope",
                  "connect"});
  EXPECT_EQ(res.status, 1) << res.err;
  EXPECT_NE(res.err.find("HTTP 404"), std::string::npos) << res.err;
  EXPECT_EQ(lines_of(res.err), 1u) << res.err;
}

// The page's own path, "/", answers a browser with the page; a WebSocket
// client there gets a 404 that says where the endpoint is, not "200 OK".
TEST_F(CliTest, AUrlWithoutWsSaysWhichPathItExpected) {
  auto res = cli({"--url=ws://127.0.0.1:" + std::to_string(gateway->port()) + "/", "connect"});
  EXPECT_EQ(res.status, 1) << res.err;
  EXPECT_NE(res.err.find("HTTP 404"), std::string::npos) << res.err;
  EXPECT_NE(res.err.find("no WebSocket endpoint at /: use /ws"), std::string::npos) << res.err;
  EXPECT_NE(res.err.find("/ws\n"), std::string::npos) << "it suggests the URL: " << res.err;
  EXPECT_EQ(res.err.find("200"), std::string::npos) << res.err;
  EXPECT_EQ(lines_of(res.err), 1u) << res.err;
}

// -- bad input: no gateway needed --------------------------------------------------

TEST(CliUsageTest, UnreachablePortExits1WithOneLine) {
  dead_port dead;
  ASSERT_NE(dead.port(), 0);
  auto res = cli({"--url=ws://127.0.0.1:" + std::to_string(dead.port()) + "/ws", "connect"});
  EXPECT_EQ(res.status, 1) << res.err;
  EXPECT_EQ(lines_of(res.err), 1u) << res.err;
  EXPECT_NE(res.err.find("refused"), std::string::npos) << res.err;
  EXPECT_TRUE(res.out.empty()) << res.out;
}

TEST(CliUsageTest, BadUrlsExit2) {
  for (std::string bad : {"127.0.0.1:8080", "http://127.0.0.1/ws", "https://127.0.0.1/ws", "wss://", "wss://:443/ws",
                          "ws://", "ws://host:http/ws", "ws://host:70000/ws", "ws://a b/ws"}) {
    auto res = cli({"--url=" + bad, "connect"});
    EXPECT_EQ(res.status, 2) << bad << ": " << res.err;
    EXPECT_EQ(lines_of(res.err), 1u) << res.err;
    EXPECT_NE(res.err.find("bad URL"), std::string::npos) << res.err;
  }
}

TEST(CliUsageTest, UnknownSubcommandExits2) {
  auto res = cli({"frobnicate"});
  EXPECT_EQ(res.status, 2) << res.err;
  EXPECT_NE(res.err.find("unknown subcommand 'frobnicate'"), std::string::npos) << res.err;
  EXPECT_EQ(lines_of(res.err), 1u) << res.err;
  EXPECT_EQ(cli({}).status, 2);
}

TEST(CliUsageTest, MissingOrEmptyRoomExits2) {
  for (auto sub : {"join", "tail", "publish"}) {
    auto res = cli({sub});
    EXPECT_EQ(res.status, 2) << sub << ": " << res.err;
    EXPECT_NE(res.err.find("room is required"), std::string::npos) << res.err;
  }
  auto empty = cli({"join", ""});
  EXPECT_EQ(empty.status, 2) << empty.err;
  EXPECT_NE(empty.err.find("empty"), std::string::npos) << empty.err;
  auto no_text = cli({"publish", "lobby"});
  EXPECT_EQ(no_text.status, 2) << no_text.err;
}

TEST(CliUsageTest, NonNumericSinceExits2) {
  for (std::string bad : {"abc", "-1", "1.5", "99999999999999999999999"}) {
    auto res = cli({"join", "lobby", "--since", bad});
    EXPECT_EQ(res.status, 2) << bad << ": " << res.err;
    EXPECT_EQ(lines_of(res.err), 1u) << res.err;
    EXPECT_NE(res.err.find("--since"), std::string::npos) << res.err;
  }
  EXPECT_EQ(cli({"tail", "lobby", "--count=x"}).status, 2);
  EXPECT_EQ(cli({"--timeout=0", "connect"}).status, 2);
}

TEST(CliUsageTest, HelpAndVersionExit0) {
  auto help = cli({"--help"});
  EXPECT_EQ(help.status, 0);
  for (auto sub : {"connect", "rooms", "join", "publish", "tail", "ping"})
    EXPECT_NE(help.out.find(sub), std::string::npos) << sub;
  auto version = cli({"--version"});
  EXPECT_EQ(version.status, 0);
  EXPECT_NE(version.out.find("parley-cli"), std::string::npos);
}

} // namespace
