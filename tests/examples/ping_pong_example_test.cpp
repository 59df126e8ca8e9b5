// Runs the ping_pong example as a real process.
#include "support/process.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <string>

using parley::test::process;
using parley::test::run_program;

namespace {

constexpr auto generous = std::chrono::seconds(120);

// The count in "supervisor restarted <id> <n> time(s)"; all ones if absent.
uint64_t restarts_of(const std::string& out, const std::string& id) {
  auto key = "supervisor restarted " + id + " ";
  auto pos = out.find(key);
  if (pos == std::string::npos)
    return ~uint64_t{0};
  return std::stoull(out.substr(pos + key.size()));
}

} // namespace

TEST(PingPongExample, CompletesAllRounds) {
  auto res = run_program({PARLEY_PING_PONG_BIN, "--rounds=2000"}, generous);
  ASSERT_EQ(res.status, 0) << res.err;
  EXPECT_NE(res.out.find("completed 2000 of 2000 rounds"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("round trips/s"), std::string::npos) << res.out;
  EXPECT_EQ(restarts_of(res.out, "ponger"), 0u) << res.out;
}

TEST(PingPongExample, PongerCrashIsRestartedAndEveryRoundCompletes) {
  auto res = run_program({PARLEY_PING_PONG_BIN, "--rounds=2000", "--crash"}, generous);
  ASSERT_EQ(res.status, 0) << res.err;
  EXPECT_NE(res.out.find("completed 2000 of 2000 rounds"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("ponger lost 1 time(s)"), std::string::npos) << res.out;
  EXPECT_EQ(restarts_of(res.out, "ponger"), 1u) << res.out;
  EXPECT_EQ(restarts_of(res.out, "pinger"), 0u) << res.out;
  // CAF reports the exception that ended the Ponger (on stdout).
  EXPECT_NE((res.out + res.err).find("crashes at round 1000"), std::string::npos) << res.err;
}

TEST(PingPongExample, BadFlagPrintsOneLineAndExitsWithTwo) {
  for (auto flag : {"--rounds=abc", "--rounds=0", "--bogus", "--threads=-3", "--config=/nonexistent.toml"}) {
    auto res = run_program({PARLEY_PING_PONG_BIN, flag}, generous);
    EXPECT_EQ(res.status, 2) << flag;
    EXPECT_EQ(std::count(res.err.begin(), res.err.end(), '\n'), 1) << flag << ": " << res.err;
    EXPECT_EQ(res.err.rfind("example_ping_pong: error: ", 0), 0u) << res.err;
    EXPECT_TRUE(res.out.empty()) << res.out;
  }
}

TEST(PingPongExample, HelpDescribesTheFlags) {
  auto res = run_program({PARLEY_PING_PONG_BIN, "--help"}, generous);
  ASSERT_EQ(res.status, 0);
  EXPECT_NE(res.out.find("--rounds"), std::string::npos);
  EXPECT_NE(res.out.find("--crash"), std::string::npos);
}

TEST(PingPongExample, SigtermStopsTheTreeCleanly) {
  for (int sig : {SIGTERM, SIGINT}) {
    process p{{PARLEY_PING_PONG_BIN, "--rounds=1000000000000"}};
    ASSERT_TRUE(p.wait_for_output("playing", generous)) << p.err();
    p.signal(sig);
    auto status = p.wait(generous);
    ASSERT_TRUE(status) << "did not exit after signal " << sig;
    EXPECT_EQ(*status, 0) << p.err();
    EXPECT_NE(p.err().find("received, shutting down"), std::string::npos) << p.err();
    EXPECT_NE(p.err().find("interrupted before the game ended"), std::string::npos) << p.err();
  }
}
