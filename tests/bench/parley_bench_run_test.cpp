// parley-bench as a process against the real gateway: every mode briefly,
// fanout in both encodings, worker processes and source spreading, and the
// one-line refusals of bad input. Each run is bounded by --timeout and by
// run_program's own timeout.

#include "support/gateway_process.hpp"
#include "support/process.hpp"
#include "support/raw_chat.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using parley::test::gateway_process;
using parley::test::metric;
using parley::test::run_program;
using parley::test::run_result;

namespace {

/// A number from the JSON line, by key; nothing when absent.
std::optional<double> number(const std::string& json, const std::string& key) {
  std::smatch m;
  std::regex re("\"" + key + "\":(-?[0-9.eE+-]+)");
  if (!std::regex_search(json, m, re))
    return std::nullopt;
  return std::stod(m[1]);
}

size_t lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

class ParleyBenchRun : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    // Limits off that a load generator is meant to cross: per-address
    // (the tool spreads anyway) and the request rate (echo pings flat out).
    gateway_ = new gateway_process({"--max-connections-per-address=0", "--rate-limit=100000",
                                    "--rate-burst=100000"});
  }

  static void TearDownTestSuite() {
    delete gateway_;
    gateway_ = nullptr;
  }

  static std::string url(uint16_t port) {
    return "--url=ws://127.0.0.1:" + std::to_string(port) + "/ws";
  }

  /// Runs parley-bench with `args` against the suite's gateway; expects a
  /// clean exit and exactly one JSON line on stdout, and returns it.
  static std::string bench_ok(std::vector<std::string> args) {
    args.insert(args.begin(), PARLEY_BENCH_BIN);
    args.push_back(url(gateway_->port()));
    args.push_back("--timeout=20");
    auto r = run_program(args, 40s);
    EXPECT_EQ(r.status, 0) << "stderr:\n" << r.err << "\nstdout:\n" << r.out;
    EXPECT_EQ(lines(r.out), 1u) << r.out;
    EXPECT_EQ(r.out.rfind("{", 0), 0u) << r.out;
    EXPECT_NE(r.err.find("result: OK"), std::string::npos) << r.err;
    return r.out;
  }

  static void expect_clean_fanout(const std::string& json, double members) {
    auto messages = number(json, "messages").value_or(-1);
    EXPECT_GT(messages, 0) << json;
    EXPECT_EQ(number(json, "expected"), messages * members) << json;
    EXPECT_EQ(number(json, "delivered"), messages * members) << json;
    EXPECT_EQ(number(json, "lost"), 0) << json;
    EXPECT_EQ(number(json, "duplicated"), 0) << json;
    EXPECT_EQ(number(json, "latency_count"), messages * members) << json;
    EXPECT_GT(number(json, "latency_max_ms").value_or(0), 0) << json;
  }

  static gateway_process* gateway_;
};

gateway_process* ParleyBenchRun::gateway_ = nullptr;

} // namespace

TEST_F(ParleyBenchRun, ConnsJoinsEveryConnectionAndReadsServerMemory) {
  ASSERT_NE(gateway_->port(), 0);
  auto json = bench_ok({"conns", "50", "--rooms=5",
                        "--server-pid=" + std::to_string(gateway_->proc().pid())});
  EXPECT_NE(json.find(R"("mode":"conns")"), std::string::npos) << json;
  EXPECT_EQ(number(json, "opened"), 50) << json;
  EXPECT_EQ(number(json, "failed"), 0) << json;
  EXPECT_GT(number(json, "connect_rate").value_or(0), 0) << json;
  EXPECT_GT(number(json, "server_rss_start_kib").value_or(0), 0) << json;
  EXPECT_GT(number(json, "server_rss_loaded_kib").value_or(0), 0) << json;
  EXPECT_TRUE(number(json, "server_bytes_per_conn")) << json;
}

// Several gateways may run: the one to measure is found by its port, or
// named in a pid file.
TEST_F(ParleyBenchRun, TheServerIsFoundByItsPortOrAPidFile) {
  ASSERT_NE(gateway_->port(), 0);
  auto json = bench_ok({"conns", "5", "--rooms=1", "--server-pid=listening"});
  EXPECT_GT(number(json, "server_rss_start_kib").value_or(0), 0) << json;
  auto pid_file = ::testing::TempDir() + "parley-gateway.pid";
  std::ofstream{pid_file} << gateway_->proc().pid() << "\n";
  json = bench_ok({"conns", "5", "--rooms=1", "--server-pid=@" + pid_file});
  EXPECT_GT(number(json, "server_rss_start_kib").value_or(0), 0) << json;
}

TEST_F(ParleyBenchRun, FanoutJsonDeliversEveryMessageToEveryMemberOnce) {
  auto json = bench_ok({"fanout", "--json", "--rooms=2", "--members=5", "--publishers=2",
                        "--rate=10", "--duration=1"});
  EXPECT_NE(json.find(R"("encoding":"json")"), std::string::npos) << json;
  expect_clean_fanout(json, 5);
}

// Members only (--publishers=0), as on the other nodes of a cluster: one
// run listens, another with the same --run-id publishes into its room, and
// the listener counts each message once per member.
TEST_F(ParleyBenchRun, FanoutMembersOnlyCountAnotherRunsMessages) {
  auto run_id = "--run-id=shared" + std::to_string(::getpid());
  parley::test::process listener({PARLEY_BENCH_BIN, "fanout", "--rooms=1", "--members=4",
                                  "--publishers=0", "--duration=4", run_id,
                                  url(gateway_->port()), "--timeout=30"});
  // Its first progress line comes once its members joined and it listens.
  ASSERT_TRUE(listener.wait_for_output("delivered", 20s)) << listener.err();
  auto json = bench_ok({"fanout", "--rooms=1", "--members=2", "--publishers=1", "--rate=20",
                        "--duration=1", run_id});
  expect_clean_fanout(json, 2);
  auto messages = number(json, "messages").value_or(-1);
  auto status = listener.wait(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0) << listener.err();
  auto heard = listener.out();
  EXPECT_EQ(number(heard, "delivered"), messages * 4) << heard;
  EXPECT_EQ(number(heard, "duplicated"), 0) << heard;
  EXPECT_EQ(number(heard, "latency_count"), messages * 4) << heard;
}

TEST_F(ParleyBenchRun, FanoutBinaryDeliversEveryMessageToEveryMemberOnce) {
  auto json = bench_ok({"fanout", "--binary", "--rooms=2", "--members=5", "--publishers=1",
                        "--rate=20", "--duration=1"});
  EXPECT_NE(json.find(R"("encoding":"binary")"), std::string::npos) << json;
  expect_clean_fanout(json, 5);
}

TEST_F(ParleyBenchRun, FanoutOverWorkerProcessesMergesTheirCounts) {
  // Three rooms of three, at most four connections per process: one room
  // per worker, three workers.
  auto json = bench_ok({"fanout", "--rooms=3", "--members=3", "--rate=10", "--duration=1",
                        "--per-process=4"});
  EXPECT_NE(json.find(R"("processes":"3")"), std::string::npos) << json;
  EXPECT_EQ(number(json, "opened"), 9) << json;
  expect_clean_fanout(json, 3);
}

TEST_F(ParleyBenchRun, EchoCountsRoundTrips) {
  auto json = bench_ok({"echo", "--conns=10", "--duration=1", "--binary"});
  EXPECT_EQ(number(json, "opened"), 10) << json;
  EXPECT_GT(number(json, "round_trips").value_or(0), 10) << json;
  EXPECT_GT(number(json, "round_trips_per_s").value_or(0), 0) << json;
  EXPECT_EQ(number(json, "latency_count"), number(json, "round_trips")) << json;
  EXPECT_EQ(number(json, "errors"), 0) << json;
}

// Over the HTTP transports every mode runs as over a WebSocket: a session per
// connection, frames received by long-polling or as Server-Sent Events.
TEST_F(ParleyBenchRun, FanoutAndEchoRunOverLongPollingAndServerSentEvents) {
  for (std::string transport : {"longpoll", "sse"}) {
    SCOPED_TRACE(transport);
    auto json = bench_ok({"fanout", "--transport=" + transport, "--rooms=2", "--members=5",
                          "--rate=10", "--duration=1"});
    EXPECT_NE(json.find(R"("transport":")" + transport + R"(")"), std::string::npos) << json;
    expect_clean_fanout(json, 5);
    auto echo = bench_ok({"echo", "--transport=" + transport, "--conns=3", "--duration=1",
                          "--in-flight=4"});
    EXPECT_GT(number(echo, "round_trips").value_or(0), 12) << echo;
    EXPECT_EQ(number(echo, "errors"), 0) << echo;
  }
}

TEST_F(ParleyBenchRun, EchoPublishCountsAcknowledgedPublishes) {
  auto before = metric(gateway_->port(), "parley_room_messages_total");
  auto json = bench_ok({"echo", "--publish", "--conns=4", "--rooms=4", "--duration=1"});
  EXPECT_EQ(number(json, "errors"), 0) << json;
  auto trips = number(json, "round_trips").value_or(0);
  EXPECT_GT(trips, 4) << json;
  // Each round trip was a message given a seq (and the ones in flight at
  // the end too, which are not counted).
  auto after = metric(gateway_->port(), "parley_room_messages_total");
  EXPECT_GE(after - before, trips) << json;
  EXPECT_LE(after - before, trips + 4) << json;
}

TEST_F(ParleyBenchRun, ChurnCyclesWithoutErrors) {
  auto json = bench_ok({"churn", "--conns=4", "--duration=1",
                        "--server-pid=" + std::to_string(gateway_->proc().pid())});
  EXPECT_GT(number(json, "cycles").value_or(0), 0) << json;
  EXPECT_EQ(number(json, "errors"), 0) << json;
  // Read from the gateway's live-heap gauge, not from RSS.
  EXPECT_GT(number(json, "server_heap_start_bytes").value_or(0), 0) << json;
  EXPECT_EQ(number(json, "server_heap_returned"), 1) << json;
}

TEST_F(ParleyBenchRun, ChurnWithoutLeavingClosesAfterThePublish) {
  auto json = bench_ok({"churn", "--conns=4", "--duration=1", "--no-leave"});
  EXPECT_GT(number(json, "cycles").value_or(0), 0) << json;
  EXPECT_EQ(number(json, "errors"), 0) << json;
  EXPECT_EQ(number(json, "server_heap_returned"), 1) << json;
}

// Echo in JSON reads its acks by hand; anything else, such as the refusals
// of a gateway on its default rate limit, still counts as an error and fails
// the run.
TEST(ParleyBenchEcho, PingsRefusedByTheRateLimitAreCountedAndFailTheRun) {
  gateway_process gw({"--rate-limit=5", "--rate-burst=5", "--rate-strikes=1000"});
  ASSERT_NE(gw.port(), 0);
  auto r = run_program({PARLEY_BENCH_BIN, "echo", "--conns=2", "--duration=1", "--in-flight=8",
                        "--timeout=20", "--url=ws://127.0.0.1:" + std::to_string(gw.port()) + "/ws"},
                       40s);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_GT(number(r.out, "rate_limited").value_or(0), 0) << r.out;
  EXPECT_NE(r.err.find("ERROR_CODE_RATE_LIMITED"), std::string::npos) << r.err;
}

TEST(ParleyBenchSpreading, SourceAddressesGetPastAPerAddressLimit) {
  // The gateway takes 11 connections per client address (one for the
  // tool's probe, which may not be gone yet); 30 over three source
  // addresses, 10 each, all get in, and two workers split them besides.
  gateway_process gw({"--max-connections-per-address=11"});
  ASSERT_NE(gw.port(), 0);
  auto r = run_program({PARLEY_BENCH_BIN, "conns", "30", "--per-address=10", "--per-process=16",
                        "--timeout=20", "--url=ws://127.0.0.1:" + std::to_string(gw.port()) + "/ws"},
                       40s);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(number(r.out, "opened"), 30) << r.out;
  EXPECT_NE(r.out.find(R"("processes":"2")"), std::string::npos) << r.out;
  // Without spreading the same run hits the limit: some connections fail
  // and the exit status says so.
  auto one = run_program({PARLEY_BENCH_BIN, "conns", "30", "--sources=1", "--timeout=20",
                          "--url=ws://127.0.0.1:" + std::to_string(gw.port()) + "/ws"},
                         40s);
  EXPECT_EQ(one.status, 1) << one.err;
  EXPECT_LE(number(one.out, "opened").value_or(99), 11) << one.out;
}

/// Expects `args` to be refused with one line on stderr and nothing on
/// stdout; returns that line.
std::string bench_refused(std::vector<std::string> args, int status) {
  args.insert(args.begin(), PARLEY_BENCH_BIN);
  auto r = run_program(args, 20s);
  EXPECT_EQ(r.status, status) << r.err;
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_EQ(r.out, "");
  return r.err;
}

// wss:// against a gateway that serves TLS, with certificates from
// scripts/tls-cert.sh: echo in this process, fanout over worker processes
// (each makes its own TLS context from the flags it is given), a
// certificate from an authority not trusted (exit 1, one line), and
// --insecure, which takes it.
TEST(ParleyBenchTls, SpeaksWssWithTheAuthorityItIsGivenAndRefusesOthers) {
  auto dir = ::testing::TempDir() + "parley_bench_tls_" + std::to_string(::getpid());
  for (auto sub : {"/a", "/other"}) {
    auto made = run_program({"/bin/bash", PARLEY_TLS_CERT_SCRIPT, dir + sub, "localhost",
                             "127.0.0.1"});
    ASSERT_EQ(made.status, 0) << made.err;
  }
  gateway_process gw{{"--tls-cert=" + dir + "/a/gateway.pem", "--tls-key=" + dir + "/a/gateway.key",
                      "--max-connections-per-address=0", "--rate-limit=100000",
                      "--rate-burst=100000"}};
  ASSERT_NE(gw.port(), 0) << gw.log();
  auto url = "--url=wss://localhost:" + std::to_string(gw.port()) + "/ws";
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), PARLEY_BENCH_BIN);
    args.push_back(url);
    args.push_back("--timeout=20");
    return run_program(args, 40s);
  };
  auto echo = run({"echo", "--conns=4", "--duration=1", "--ca-file=" + dir + "/a/ca.pem"});
  ASSERT_EQ(echo.status, 0) << echo.err;
  EXPECT_GT(number(echo.out, "round_trips").value_or(0), 4) << echo.out;
  EXPECT_EQ(number(echo.out, "errors"), 0) << echo.out;
  auto fanout = run({"fanout", "--rooms=2", "--members=3", "--rate=10", "--duration=1",
                     "--per-process=3", "--binary", "--ca-file=" + dir + "/a/ca.pem"});
  ASSERT_EQ(fanout.status, 0) << fanout.err;
  EXPECT_NE(fanout.out.find(R"("processes":"2")"), std::string::npos) << fanout.out;
  EXPECT_EQ(number(fanout.out, "opened"), 6) << fanout.out;
  EXPECT_EQ(number(fanout.out, "lost"), 0) << fanout.out;
  auto refused = run({"echo", "--conns=1", "--duration=1", "--ca-file=" + dir + "/other/ca.pem"});
  EXPECT_EQ(refused.status, 1) << refused.err;
  EXPECT_EQ(lines(refused.err), 1u) << refused.err;
  EXPECT_NE(refused.err.find("certificate verify failed"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.out, "");
  auto insecure = run({"echo", "--conns=2", "--duration=1", "--insecure"});
  EXPECT_EQ(insecure.status, 0) << insecure.err;
  EXPECT_EQ(gw.stop(), 0) << gw.log();
  std::filesystem::remove_all(dir);
}

TEST(ParleyBenchInput, BadModeIsRefusedInOneLine) {
  auto line = bench_refused({"flood"}, 2);
  EXPECT_NE(line.find("mode"), std::string::npos) << line;
  bench_refused({}, 2);
}

TEST(ParleyBenchInput, BadFlagsAreRefusedInOneLine) {
  bench_refused({"fanout", "--rooms=0"}, 2);
  bench_refused({"fanout", "--members=2", "--publishers=3"}, 2);
  bench_refused({"echo", "--duration=soon"}, 2);
  bench_refused({"echo", "--binary", "--json"}, 2);
  bench_refused({"echo", "--publish", "--ping"}, 2);
  bench_refused({"conns", "--no-such-flag"}, 2);
  bench_refused({"churn", "--leave", "--no-leave"}, 2);
  bench_refused({"churn", "--no-leave=maybe"}, 2);
  bench_refused({"echo", "--transport=pigeon"}, 2);
  bench_refused({"echo", "--transport=longpoll", "--binary"}, 2);
  bench_refused({"echo", "--in-flight=0"}, 2);
}

// `--server-pid=$(pidof parley-gateway)` with two gateways running.
TEST(ParleyBenchInput, ABadServerPidSaysWhatItTakes) {
  auto line = bench_refused({"echo", "--server-pid=784 804"}, 2);
  EXPECT_NE(line.find("not a PID, @PIDFILE or 'listening'"), std::string::npos) << line;
  EXPECT_NE(line.find("--server-pid=listening"), std::string::npos) << line;
  line = bench_refused({"echo", "--server-pid=@/nonexistent/gateway.pid"}, 2);
  EXPECT_NE(line.find("cannot read a PID from /nonexistent/gateway.pid"), std::string::npos)
    << line;
  line = bench_refused({"echo", "--url=ws://127.0.0.1:9/ws", "--server-pid=listening"}, 2);
  EXPECT_NE(line.find("listens on port 9"), std::string::npos) << line;
}

TEST(ParleyBenchInput, BadUrlIsRefusedInOneLine) {
  auto line = bench_refused({"echo", "--url=http://127.0.0.1:8080/ws"}, 2);
  EXPECT_NE(line.find("--url"), std::string::npos) << line;
  bench_refused({"echo", "--url=ws://127.0.0.1:99999/ws"}, 2);
  line = bench_refused({"echo", "--url=ws://127.0.0.1:8080/ws", "--insecure"}, 2);
  EXPECT_NE(line.find("are for wss:// URLs"), std::string::npos) << line;
  line = bench_refused({"echo", "--url=wss://127.0.0.1:8443/ws", "--ca-file=/nonexistent.pem"}, 2);
  EXPECT_NE(line.find("--ca-file"), std::string::npos) << line;
}

TEST(ParleyBenchInput, UnreachableGatewayIsOneLineAndFails) {
  // A port nobody listens on: the gateway's, once it stopped.
  uint16_t port = 0;
  {
    gateway_process gw;
    port = gw.port();
  }
  ASSERT_NE(port, 0);
  auto line = bench_refused({"conns", "5", "--url=ws://127.0.0.1:" + std::to_string(port) + "/ws"}, 1);
  EXPECT_NE(line.find("cannot reach"), std::string::npos) << line;
}
