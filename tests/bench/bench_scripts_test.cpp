// The benchmark scripts' command lines: bad arguments are refused in one
// line with status 2 before anything is built or started; bench-ab.sh runs
// the real gateway and parley-bench side by side, and churn-soak.sh runs
// cycles of clients against the real gateway.

#include "support/process.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

using parley::test::run_program;

namespace {

const std::string ab_script = std::string{PARLEY_SOURCE_DIR} + "/scripts/bench-ab.sh";
const std::string matrix_script = std::string{PARLEY_SOURCE_DIR} + "/scripts/bench-matrix.sh";
const std::string soak_script = std::string{PARLEY_SOURCE_DIR} + "/scripts/churn-soak.sh";
const std::string erlang_script = std::string{PARLEY_SOURCE_DIR} + "/scripts/bench-erlang.sh";

size_t lines(const std::string& s) {
  size_t n = 0;
  for (auto c : s)
    n += c == '\n';
  return n;
}

void expect_refused(const std::string& script, const std::vector<std::string>& args,
                    const std::string& prog) {
  std::vector<std::string> argv{"/bin/bash", script};
  argv.insert(argv.end(), args.begin(), args.end());
  auto res = run_program(argv, std::chrono::seconds(30));
  std::string shown;
  for (auto& a : args)
    shown += a + ' ';
  EXPECT_EQ(res.status, 2) << shown << "\n" << res.err;
  EXPECT_EQ(lines(res.err), 1u) << shown << "\n" << res.err;
  EXPECT_EQ(res.err.rfind(prog + ": error: ", 0), 0u) << shown << "\n" << res.err;
  EXPECT_TRUE(res.out.empty()) << shown << "\n" << res.out;
}

} // namespace

TEST(BenchScripts, BenchAbRefusesBadArgumentsInOneLine) {
  const std::string gw = PARLEY_GATEWAY_BIN;
  const std::string prog = "bench-ab";
  expect_refused(ab_script, {}, prog);
  expect_refused(ab_script, {gw, "--", "echo"}, prog);                      // one gateway
  expect_refused(ab_script, {gw, gw, gw, "--", "echo"}, prog);              // three
  expect_refused(ab_script, {gw, gw}, prog);                                // no bench args
  expect_refused(ab_script, {gw, gw, "--"}, prog);
  expect_refused(ab_script, {"--runs=0", gw, gw, "--", "echo"}, prog);
  expect_refused(ab_script, {"--runs=two", gw, gw, "--", "echo"}, prog);
  expect_refused(ab_script, {"--label-a=", gw, gw, "--", "echo"}, prog);
  expect_refused(ab_script, {"--frobnicate", gw, gw, "--", "echo"}, prog);
  expect_refused(ab_script, {gw, "/nonexistent/gateway", "--", "echo"}, prog);
  expect_refused(ab_script, {gw, PARLEY_SOURCE_DIR, "--", "echo"}, prog); // a directory
  expect_refused(ab_script, {gw, gw, "--", "--conns=3"}, prog);             // mode not first
  expect_refused(ab_script, {gw, gw, "--", "dance"}, prog);
  expect_refused(ab_script, {gw, gw, "--", "echo", "--url=ws://x/ws"}, prog);
  expect_refused(ab_script, {gw, gw, "--", "echo", "--binary"}, prog);
}

// Its arguments are checked before it looks for Erlang, so this runs
// without Erlang installed.
TEST(BenchScripts, BenchErlangRefusesBadArgumentsInOneLine) {
  const std::string prog = "bench-erlang";
  const std::string bench = std::string{"--bench="} + PARLEY_GATEWAY_BIN; // any executable
  expect_refused(erlang_script, {"--frobnicate"}, prog);
  expect_refused(erlang_script, {bench, "--runs=0"}, prog);
  expect_refused(erlang_script, {bench, "--runs=x"}, prog);
  expect_refused(erlang_script, {bench, "--seconds=0"}, prog);
  expect_refused(erlang_script, {bench, "--seconds=soon"}, prog);
  expect_refused(erlang_script, {bench, "--policies="}, prog);
  expect_refused(erlang_script, {bench, "--policies=Fast!"}, prog);
  expect_refused(erlang_script, {bench, "--only="}, prog);
  expect_refused(erlang_script, {bench, "--only=pingpong,juggling"}, prog);
  expect_refused(erlang_script, {bench, "--only=fanout_0"}, prog);
  expect_refused(erlang_script, {"--bench=/nonexistent/actor_bench"}, prog);
  expect_refused(erlang_script, {std::string{"--bench="} + PARLEY_SOURCE_DIR}, prog); // a directory
}

TEST(BenchScripts, BenchMatrixRefusesBadArgumentsInOneLine) {
  const std::string prog = "bench-matrix";
  expect_refused(matrix_script, {"--frobnicate"}, prog);
  expect_refused(matrix_script, {"--conns=1k"}, prog);
  expect_refused(matrix_script, {"--conns=10,,20"}, prog);
  expect_refused(matrix_script, {"--ladder=fast"}, prog);
  expect_refused(matrix_script, {"--fanout-members=0"}, prog);
  expect_refused(matrix_script, {"--echo-conns=-1"}, prog);
  expect_refused(matrix_script, {"--fanout-rate=0"}, prog);
  expect_refused(matrix_script, {"--duration=soon"}, prog);
  expect_refused(matrix_script, {"--p99-limit=0"}, prog);
  expect_refused(matrix_script, {"--modes=conns,dance"}, prog);
  expect_refused(matrix_script, {"--out=/nonexistent/dir/matrix.md"}, prog);
}

TEST(BenchScripts, BenchAbRunsBothGatewaysInTurnAndPrintsARowForEach) {
  setenv("PARLEY_BENCH_BIN", PARLEY_BENCH_BIN, 1);
  auto res = run_program({"/bin/bash", ab_script, "--runs=2", "--label-a=old", "--label-b=new",
                          PARLEY_GATEWAY_BIN, PARLEY_GATEWAY_BIN, "--", "echo", "--conns=2",
                          "--duration=0.3"},
                         std::chrono::seconds(120));
  ASSERT_EQ(res.status, 0) << res.out << res.err;
  std::vector<std::string> rows;
  size_t pos = 0;
  while ((pos = res.out.find("\n| ", pos)) != std::string::npos) {
    ++pos;
    rows.push_back(res.out.substr(pos, res.out.find('\n', pos) - pos));
  }
  ASSERT_EQ(rows.size(), 4u) << res.out; // the runs (the header is the first line)
  EXPECT_EQ(rows[0].rfind("| old | 1 |", 0), 0u) << rows[0];
  EXPECT_EQ(rows[1].rfind("| new | 1 |", 0), 0u) << rows[1];
  EXPECT_EQ(rows[2].rfind("| old | 2 |", 0), 0u) << rows[2];
  EXPECT_EQ(rows[3].rfind("| new | 2 |", 0), 0u) << rows[3];
  for (auto& row : rows) {
    EXPECT_NE(row.find("| ok |"), std::string::npos) << row;
    // An echo run has round trips: its per-round-trip column is a number.
    EXPECT_EQ(row.find("| – | – |"), std::string::npos) << row;
  }
}

TEST(BenchScripts, ChurnSoakRefusesBadArgumentsInOneLine) {
  const std::string gw = PARLEY_GATEWAY_BIN;
  const std::string prog = "churn-soak";
  expect_refused(soak_script, {"--frobnicate", gw}, prog);
  expect_refused(soak_script, {"--cycles=0", gw}, prog);
  expect_refused(soak_script, {"--cycles=many", gw}, prog);
  expect_refused(soak_script, {"--conns=20000", gw}, prog); // past one process's descriptors
  expect_refused(soak_script, {"--conns=-3", gw}, prog);
  expect_refused(soak_script, {"--rooms=", gw}, prog);
  expect_refused(soak_script, {"--hold=1s", gw}, prog);
  expect_refused(soak_script, {gw, gw}, prog);
  expect_refused(soak_script, {"/nonexistent/gateway"}, prog);
  expect_refused(soak_script, {PARLEY_SOURCE_DIR}, prog); // a directory
}

// Three small cycles: a row per cycle with the live heap read from the
// gateway's /metrics, and status 0 (the heap stayed within 1 MiB).
TEST(BenchScripts, ChurnSoakPrintsTheLiveHeapAfterEachCycle) {
  setenv("PARLEY_BENCH_BIN", PARLEY_BENCH_BIN, 1);
  auto res = run_program({"/bin/bash", soak_script, "--cycles=3", "--conns=20", "--rooms=2",
                          "--hold=0", PARLEY_GATEWAY_BIN},
                         std::chrono::seconds(120));
  ASSERT_EQ(res.status, 0) << res.out << res.err;
  for (auto row : {"\n| start | ", "\n| 1 | ", "\n| 2 | ", "\n| 3 | "}) {
    auto at = res.out.find(row);
    ASSERT_NE(at, std::string::npos) << row << " missing:\n" << res.out;
    // The live heap column is a positive number of KiB.
    auto value = std::stol(res.out.substr(at + std::string{row}.size()));
    EXPECT_GT(value, 0) << res.out;
  }
  EXPECT_NE(res.out.find("live heap after cycle 3: "), std::string::npos) << res.out;
}
