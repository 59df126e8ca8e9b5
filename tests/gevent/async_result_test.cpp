#include "parley/gevent/async_result.hpp"

#include "actors/gevent_test.hpp"

#include <caf/sec.hpp>

using namespace parley::gevent;
using parley::runtime::errc;
using parley::test::ms;

namespace {

class AsyncResultTest : public parley::test::gevent_test {
protected:
  async_result_actor result = spawn_async_result(sys);

  void get() {
    self->send(result, get_atom::value);
    run();
  }

  void get(caf::timespan timeout) {
    self->send(result, get_atom::value, timeout);
    run();
  }

  caf::expected<uint64_t> set(int64_t x) {
    return ask<uint64_t>(result, set_atom::value, x);
  }
};

} // namespace

TEST_F(AsyncResultTest, GettersBeforeSetAllGetTheValue) {
  get();
  get();
  get(ms(500));
  EXPECT_TRUE(replies<int64_t>().empty());
  auto woken = set(42);
  ASSERT_TRUE(woken) << render(woken.error());
  EXPECT_EQ(*woken, 3u);
  auto xs = replies<int64_t>();
  ASSERT_EQ(xs.size(), 3u);
  for (auto& x : xs) {
    ASSERT_TRUE(x) << render(x.error());
    EXPECT_EQ(*x, 42);
  }
  advance_time(ms(500));
  EXPECT_TRUE(replies<int64_t>().empty());
}

TEST_F(AsyncResultTest, GetAfterSetAnswersAtOnce) {
  auto ready = ask<bool>(result, ready_atom::value);
  ASSERT_TRUE(ready);
  EXPECT_FALSE(*ready);
  ASSERT_TRUE(set(7));
  ready = ask<bool>(result, ready_atom::value);
  ASSERT_TRUE(ready);
  EXPECT_TRUE(*ready);
  get();
  get(ms(0));
  auto xs = replies<int64_t>();
  ASSERT_EQ(xs.size(), 2u);
  EXPECT_EQ(*xs[0], 7);
  EXPECT_EQ(*xs[1], 7);
}

TEST_F(AsyncResultTest, FailGivesEveryGetterTheError) {
  get();
  self->send(result, fail_atom::value,
             caf::make_error(caf::sec::runtime_error, std::string{"boom"}));
  run();
  // The parked getter's error comes first, then the answer to `fail`.
  auto xs = replies<int64_t>();
  auto woken = reply<uint64_t>();
  ASSERT_TRUE(woken && *woken);
  EXPECT_EQ(**woken, 1u);
  get();
  auto later = replies<int64_t>();
  xs.insert(xs.end(), later.begin(), later.end());
  ASSERT_EQ(xs.size(), 2u);
  for (auto& x : xs) {
    ASSERT_FALSE(x);
    EXPECT_EQ(x.error(), caf::sec::runtime_error);
    EXPECT_NE(render(x.error()).find("boom"), std::string::npos);
  }
}

TEST_F(AsyncResultTest, ASecondSetIsRefusedAndTheFirstValueStays) {
  ASSERT_TRUE(set(1));
  auto again = set(2);
  EXPECT_TRUE(failed_with(again, errc::invalid_argument));
  auto failed = ask<uint64_t>(result, fail_atom::value, caf::make_error(caf::sec::runtime_error));
  EXPECT_TRUE(failed_with(failed, errc::invalid_argument));
  auto x = ask<int64_t>(result, get_atom::value);
  ASSERT_TRUE(x);
  EXPECT_EQ(*x, 1);
}

TEST_F(AsyncResultTest, FailWithAnEmptyErrorIsRefused) {
  auto x = ask<uint64_t>(result, fail_atom::value, caf::error{});
  EXPECT_TRUE(failed_with(x, errc::invalid_argument));
  auto ready = ask<bool>(result, ready_atom::value);
  ASSERT_TRUE(ready);
  EXPECT_FALSE(*ready);
}

TEST_F(AsyncResultTest, GetTimesOutAtItsDeadlineNotBefore) {
  get(ms(100));
  advance_time(ms(99));
  EXPECT_FALSE(reply<int64_t>());
  advance_time(ms(1));
  auto x = reply<int64_t>();
  ASSERT_TRUE(x);
  EXPECT_TRUE(failed_with(*x, errc::timeout));
  auto woken = set(3);
  ASSERT_TRUE(woken);
  EXPECT_EQ(*woken, 0u);
}

TEST_F(AsyncResultTest, ZeroTimeoutIsGetNowait) {
  get(ms(0));
  auto x = reply<int64_t>();
  ASSERT_TRUE(x);
  EXPECT_TRUE(failed_with(*x, errc::timeout));
}

TEST_F(AsyncResultTest, NegativeTimeoutIsRefused) {
  get(ms(-10));
  auto x = reply<int64_t>();
  ASSERT_TRUE(x);
  EXPECT_TRUE(failed_with(*x, errc::invalid_argument));
}

TEST_F(AsyncResultTest, MoreGettersThanTheLimitAreRefused) {
  result = spawn_async_result(sys, 1);
  get();
  get();
  auto refused = reply<int64_t>();
  ASSERT_TRUE(refused);
  EXPECT_TRUE(failed_with(*refused, errc::capacity_exceeded));
  ASSERT_TRUE(set(9));
  auto x = reply<int64_t>();
  ASSERT_TRUE(x && *x);
  EXPECT_EQ(**x, 9);
}
