// The logic of parley-bench without a network: latency accounting, loss and
// duplicate detection, spreading sockets over addresses and processes, and
// the JSON line a worker hands to its parent.

#include "parley_bench/spread.hpp"
#include "parley_bench/stats.hpp"
#include "parley_bench/summary.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numeric>
#include <set>

using parley::bench::delivery_tracker;
using parley::bench::histogram;
using parley::bench::run_result;

namespace {

/// Within the histogram's resolution (1/64 of the value) above the truth.
void expect_near_above(int64_t got, int64_t want) {
  EXPECT_GE(got, want);
  EXPECT_LE(got, want + want / 64 + 1) << "want " << want;
}

} // namespace

// -- latency --------------------------------------------------------------------

TEST(ParleyBenchHistogram, SmallValuesAreExact) {
  histogram h;
  for (int64_t v = 0; v < 64; ++v)
    h.record(v);
  EXPECT_EQ(h.count(), 64u);
  EXPECT_EQ(h.percentile(50), 31);
  EXPECT_EQ(h.percentile(100), 63);
  EXPECT_EQ(h.max(), 63);
}

TEST(ParleyBenchHistogram, PercentilesOfAUniformDistribution) {
  histogram h;
  for (int64_t v = 1; v <= 100'000; ++v)
    h.record(v);
  expect_near_above(h.percentile(50), 50'000);
  expect_near_above(h.percentile(95), 95'000);
  expect_near_above(h.percentile(99), 99'000);
  EXPECT_EQ(h.percentile(100), 100'000);
  EXPECT_EQ(h.max(), 100'000);
}

TEST(ParleyBenchHistogram, PercentilesOfASkewedDistribution) {
  // 990 fast deliveries of 1 ms and 10 slow ones of 250 ms: p99 is still
  // fast, the max is the slow one.
  histogram h;
  for (int i = 0; i < 990; ++i)
    h.record(1'000);
  for (int i = 0; i < 10; ++i)
    h.record(250'000);
  expect_near_above(h.percentile(50), 1'000);
  expect_near_above(h.percentile(99), 1'000);
  expect_near_above(h.percentile(99.5), 250'000);
  EXPECT_EQ(h.max(), 250'000);
}

TEST(ParleyBenchHistogram, EmptyAndNegative) {
  histogram h;
  EXPECT_EQ(h.percentile(99), 0);
  h.record(-5); // a clock step: counted as 0, not dropped
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.percentile(50), 0);
}

TEST(ParleyBenchHistogram, BucketsCoverEveryValue) {
  for (int64_t v : {0L, 1L, 63L, 64L, 127L, 128L, 1'000L, 65'535L, 1'000'000L, 3'600'000'000L}) {
    auto i = histogram::index_of(v);
    EXPECT_GE(histogram::upper_bound(i), v);
    if (i > 0) {
      EXPECT_LT(histogram::upper_bound(i - 1), v);
    }
  }
}

TEST(ParleyBenchHistogram, MergeOfTwoWorkersEqualsOneRecorder) {
  histogram a, b, all;
  for (int64_t v = 1; v <= 5'000; ++v) {
    (v % 3 == 0 ? a : b).record(v * 7);
    all.record(v * 7);
  }
  histogram merged;
  merged.merge(a);
  merged.merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.max(), all.max());
  for (double p : {1.0, 50.0, 95.0, 99.0, 99.9, 100.0})
    EXPECT_EQ(merged.percentile(p), all.percentile(p)) << "p" << p;
}

TEST(ParleyBenchHistogram, TextFormRoundTrips) {
  histogram h;
  for (int64_t v : {3L, 3L, 900L, 42'000L, 7'000'000L})
    h.record(v);
  histogram back;
  ASSERT_TRUE(back.decode(h.encode()));
  EXPECT_EQ(back.count(), 5u);
  EXPECT_EQ(back.max(), 7'000'000);
  EXPECT_EQ(back.encode(), h.encode());
  histogram empty;
  ASSERT_TRUE(back.decode(empty.encode()));
  EXPECT_EQ(back.count(), 0u);
}

TEST(ParleyBenchHistogram, MalformedTextIsRefused) {
  histogram h;
  h.record(10);
  for (const char* bad : {"", "1:2", "x:1;0", "5000:1;9", "3:;4", "3:1;", "3:1;x"})
    EXPECT_FALSE(h.decode(bad)) << bad;
  EXPECT_EQ(h.count(), 1u); // untouched by the failures
}

// -- loss and duplicates --------------------------------------------------------

TEST(ParleyBenchTracker, EveryMessageToEveryMemberIsClean) {
  delivery_tracker t;
  auto a = t.add_receiver("r");
  auto b = t.add_receiver("r");
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    t.published("r", seq);
    t.delivered(a, seq);
    t.delivered(b, seq);
  }
  auto n = t.count();
  EXPECT_EQ(n.messages, 3u);
  EXPECT_EQ(n.expected, 6u);
  EXPECT_EQ(n.delivered, 6u);
  EXPECT_EQ(n.lost, 0u);
  EXPECT_EQ(n.duplicated, 0u);
}

TEST(ParleyBenchTracker, AMissingSeqIsLost) {
  delivery_tracker t;
  auto a = t.add_receiver("r");
  auto b = t.add_receiver("r");
  for (uint64_t seq = 1; seq <= 4; ++seq)
    t.published("r", seq);
  for (uint64_t seq : {1, 2, 3, 4})
    t.delivered(a, seq);
  for (uint64_t seq : {1, 2, 4}) // b misses 3
    t.delivered(b, seq);
  auto n = t.count();
  EXPECT_EQ(n.expected, 8u);
  EXPECT_EQ(n.lost, 1u);
  EXPECT_EQ(n.duplicated, 0u);
}

TEST(ParleyBenchTracker, ADuplicateSeqIsCountedAndDoesNotHideALoss) {
  delivery_tracker t;
  auto a = t.add_receiver("r");
  t.published("r", 1);
  t.published("r", 2);
  t.delivered(a, 1);
  t.delivered(a, 1); // 2 never came, 1 came twice: delivered == expected
  auto n = t.count();
  EXPECT_EQ(n.delivered, n.expected);
  EXPECT_EQ(n.duplicated, 1u);
  EXPECT_EQ(n.lost, 1u);
}

TEST(ParleyBenchTracker, ReorderingWithinAndAcrossRoomsIsNoLoss) {
  delivery_tracker t;
  auto x = t.add_receiver("x");
  auto y = t.add_receiver("y");
  // Both rooms number their messages from 1: a seq belongs to its room.
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    t.published("y", seq);
    t.published("x", seq);
  }
  for (uint64_t seq : {3, 1, 2})
    t.delivered(x, seq);
  for (uint64_t seq : {2, 3, 1})
    t.delivered(y, seq);
  auto n = t.count();
  EXPECT_EQ(n.expected, 6u);
  EXPECT_EQ(n.lost, 0u);
  EXPECT_EQ(n.duplicated, 0u);
}

TEST(ParleyBenchTracker, AnotherRoomsSeqDoesNotCount) {
  delivery_tracker t;
  auto x = t.add_receiver("x");
  t.add_receiver("y");
  t.published("x", 1);
  t.published("y", 2);
  t.delivered(x, 2); // not a message of x: x still lacks its 1
  auto n = t.count();
  EXPECT_EQ(n.expected, 2u);
  EXPECT_EQ(n.lost, 2u);
}

TEST(ParleyBenchTracker, MergedThreadsCountLikeOne) {
  delivery_tracker t1, t2;
  auto a = t1.add_receiver("r");
  auto b = t2.add_receiver("r");
  t1.published("r", 1);
  t2.published("r", 2);
  t1.delivered(a, 1);
  t1.delivered(a, 2);
  t2.delivered(b, 2); // b misses 1
  t1.merge(t2);
  auto n = t1.count();
  EXPECT_EQ(n.messages, 2u);
  EXPECT_EQ(n.expected, 4u);
  EXPECT_EQ(n.lost, 1u);
}

// -- spreading ------------------------------------------------------------------

TEST(ParleyBenchSpread, SourceAddresses) {
  EXPECT_EQ(parley::bench::source_address(0), "127.0.0.1");
  EXPECT_EQ(parley::bench::source_address(1), "127.0.0.2");
  EXPECT_EQ(parley::bench::source_address(254), "127.0.0.255");
  EXPECT_EQ(parley::bench::source_address(255), "127.0.1.0");
}

TEST(ParleyBenchSpread, ConnectionsStayWithinThePortBudgetOfEachAddress) {
  for (size_t n : {1u, 50u, 25'000u, 25'001u, 19'000u, 60'000u}) {
    for (size_t budget : {1'000u, 25'000u}) {
      auto k = parley::bench::sources_needed(n, budget);
      std::map<size_t, size_t> per;
      for (size_t i = 0; i < n; ++i)
        ++per[parley::bench::source_of(i, k)];
      EXPECT_EQ(per.size(), std::min(n, k));
      for (auto& [src, count] : per)
        EXPECT_LE(count, budget) << n << " over " << k;
      EXPECT_EQ(k, std::max<size_t>(1, (n + budget - 1) / budget));
    }
  }
}

TEST(ParleyBenchSpread, WorkersSplitEvenlyWithinTheProcessLimit) {
  auto one = parley::bench::split_workers(100, 15'000);
  EXPECT_EQ(one, std::vector<size_t>{100});
  auto three = parley::bench::split_workers(40'000, 15'000);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(std::accumulate(three.begin(), three.end(), size_t{0}), 40'000u);
  for (auto s : three) {
    EXPECT_LE(s, 15'000u);
    EXPECT_GE(s, 13'333u);
  }
  EXPECT_EQ(parley::bench::split_workers(15'000, 15'000).size(), 1u);
  EXPECT_EQ(parley::bench::split_workers(15'001, 15'000).size(), 2u);
}

TEST(ParleyBenchSpread, FanoutKeepsWholeRoomsInOneProcess) {
  auto shares = parley::bench::split_rooms(30, 1'000, 15'000); // 15 rooms fit
  ASSERT_EQ(shares.size(), 2u);
  EXPECT_EQ(shares[0] + shares[1], 30u);
  for (auto s : shares)
    EXPECT_LE(s * 1'000, 15'000u);
  EXPECT_EQ(parley::bench::split_rooms(1, 10'000, 15'000), std::vector<size_t>{1});
  EXPECT_TRUE(parley::bench::split_rooms(1, 16'000, 15'000).empty()); // one room too big
}

// -- the JSON line --------------------------------------------------------------

TEST(ParleyBenchSummary, JsonLineRoundTrips) {
  run_result r;
  r.attempted = 10;
  r.opened = 9;
  r.failed = 1;
  r.messages = 20;
  r.expected = 180;
  r.delivered = 181;
  r.lost = 2;
  r.duplicated = 3;
  r.setup_seconds = 0.5;
  r.run_seconds = 2;
  r.first_error = "closed by the server: 1008 \"slow\"\\\n";
  for (int64_t v : {100L, 2'000L, 30'000L})
    r.latency.record(v);
  auto line = parley::bench::to_json_line("fanout", {{"rooms", "2"}}, r, {{"server_rss_start_kib", 123}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.rfind(R"({"mode":"fanout","params":{"rooms":"2"},"results":{)", 0), 0u) << line;
  EXPECT_NE(line.find(R"("rooms":"2")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("deliveries_per_s":90.5)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("server_rss_start_kib":123)"), std::string::npos) << line;
  run_result back;
  std::string mode;
  ASSERT_TRUE(parley::bench::from_json_line(line, back, &mode)) << line;
  EXPECT_EQ(mode, "fanout");
  EXPECT_EQ(back.opened, 9u);
  EXPECT_EQ(back.failed, 1u);
  EXPECT_EQ(back.expected, 180u);
  EXPECT_EQ(back.delivered, 181u);
  EXPECT_EQ(back.lost, 2u);
  EXPECT_EQ(back.duplicated, 3u);
  EXPECT_DOUBLE_EQ(back.setup_seconds, 0.5);
  EXPECT_EQ(back.first_error, r.first_error);
  EXPECT_EQ(back.latency.encode(), r.latency.encode());
}

TEST(ParleyBenchSummary, WorkersMergeIntoTheirSum) {
  run_result a, b;
  a.opened = 3;
  a.lost = 1;
  a.setup_seconds = 2;
  a.latency.record(1'000);
  b.opened = 4;
  b.duplicated = 2;
  b.setup_seconds = 3;
  b.latency.record(9'000);
  b.first_error = "boom";
  run_result via_json;
  ASSERT_TRUE(parley::bench::from_json_line(parley::bench::to_json_line("conns", {}, a), via_json));
  via_json.merge(b);
  EXPECT_EQ(via_json.opened, 7u);
  EXPECT_EQ(via_json.lost, 1u);
  EXPECT_EQ(via_json.duplicated, 2u);
  EXPECT_DOUBLE_EQ(via_json.setup_seconds, 3); // workers run side by side
  EXPECT_EQ(via_json.latency.count(), 2u);
  EXPECT_EQ(via_json.latency.max(), 9'000);
  EXPECT_EQ(via_json.first_error, "boom");
}

TEST(ParleyBenchSummary, TheFinalLineCanLeaveTheHistogramOut) {
  run_result r;
  r.latency.record(5);
  auto line = parley::bench::to_json_line("echo", {}, r, {}, false);
  EXPECT_EQ(line.find("latency_hist"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("latency_count":1)"), std::string::npos) << line;
}

TEST(ParleyBenchSummary, NotAResultLineIsRefused) {
  run_result r;
  for (const char* bad : {"", "READY", "{}", R"({"results":1})", R"({"results":{}})"})
    EXPECT_FALSE(parley::bench::from_json_line(bad, r)) << bad;
}
