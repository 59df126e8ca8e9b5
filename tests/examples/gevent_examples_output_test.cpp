// The gevent examples print what happened in the order it happened: lines
// from the actors and from main go one way (examples/say.hpp), so a line
// that says "all put" comes after the last put, and "OK" after every
// worker's last word.

#include "support/process.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

/// Index of the first line that starts with `prefix`; -1 if none.
int index_of(const std::vector<std::string>& lines, const std::string& prefix) {
  for (size_t i = 0; i < lines.size(); ++i)
    if (lines[i].rfind(prefix, 0) == 0)
      return static_cast<int>(i);
  return -1;
}

/// Index of the last line that starts with `prefix`; -1 if none.
int last_of(const std::vector<std::string>& lines, const std::string& prefix) {
  int found = -1;
  for (size_t i = 0; i < lines.size(); ++i)
    if (lines[i].rfind(prefix, 0) == 0)
      found = static_cast<int>(i);
  return found;
}

} // namespace

TEST(GeventExamplesOutput, BoundedQueueSaysAllPutAfterTheLastPut) {
  auto res = parley::test::run_program({PARLEY_EXAMPLE_BOUNDED_QUEUE}, std::chrono::seconds(30));
  ASSERT_TRUE(res.status);
  ASSERT_EQ(*res.status, 0) << res.out << res.err;
  auto lines = lines_of(res.out);
  auto last_put = index_of(lines, "boss: put task 10,");
  auto all_put = index_of(lines, "boss: all ten tasks put");
  ASSERT_GE(last_put, 0) << res.out;
  EXPECT_LT(last_put, all_put) << res.out;
  auto ok = index_of(lines, "bounded_queue example: OK");
  ASSERT_GE(ok, 0) << res.out;
  EXPECT_LT(last_of(lines, "worker "), ok) << "every worker's line comes before OK:\n" << res.out;
  EXPECT_EQ(ok + 1, static_cast<int>(lines.size())) << "OK is the last line:\n" << res.out;
}

TEST(GeventExamplesOutput, AsyncResultWaitersSpeakBeforeOk) {
  auto res = parley::test::run_program({PARLEY_EXAMPLE_ASYNC_RESULT}, std::chrono::seconds(30));
  ASSERT_TRUE(res.status);
  ASSERT_EQ(*res.status, 0) << res.out << res.err;
  auto lines = lines_of(res.out);
  auto ok = index_of(lines, "async_result example: OK");
  ASSERT_GE(ok, 0) << res.out;
  EXPECT_LT(last_of(lines, "waiter "), ok) << res.out;
  EXPECT_LT(last_of(lines, "getter "), ok) << res.out;
  EXPECT_EQ(ok + 1, static_cast<int>(lines.size())) << res.out;
}
