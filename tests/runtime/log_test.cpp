// What a client sends cannot shape the log: printable() and log_limiter.
#include "parley/runtime/log.hpp"

#include <gtest/gtest.h>

using parley::runtime::log_limiter;
using parley::runtime::printable;
using namespace std::chrono_literals;

TEST(Printable, PlainTextAndUtf8StayAsTheyAre) {
  EXPECT_EQ(printable("lobby"), "lobby");
  EXPECT_EQ(printable("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
}

TEST(Printable, ANewlineCannotStartAForgedLine) {
  auto out = printable("x\n2026-12-03T00:00:00.000 info [1] admin logged in");
  EXPECT_EQ(out.find('\n'), std::string::npos) << out;
  EXPECT_EQ(out.substr(0, 5), "x\\x0a");
}

TEST(Printable, TerminalControlsAreEscaped) {
  EXPECT_EQ(printable("\x1b[2J\x1b[31mred"), "\\x1b[2J\\x1b[31mred");
  EXPECT_EQ(printable("a\rb\tc\x7f"), "a\\x0db\\x09c\\x7f");
  // U+009B, the one-character CSI, and U+0085 (next line).
  EXPECT_EQ(printable("\xc2\x9b" "2J \xc2\x85"), "\\xc2\\x9b" "2J \\xc2\\x85");
  // A backslash is escaped too, so "\x0a" in the log always means a byte.
  EXPECT_EQ(printable("a\\x0ab"), "a\\x5cx0ab");
}

TEST(Printable, BytesThatAreNotUtf8AreEscaped) {
  EXPECT_EQ(printable("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf") << "an overlong '/'";
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80") << "a surrogate";
  EXPECT_EQ(printable("\xe6\x97"), "\\xe6\\x97") << "a character cut short";
}

TEST(Printable, LongTextIsCut) {
  std::string big(1000, 'a');
  auto out = printable(big, 10);
  EXPECT_EQ(out, "aaaaaaaaaa...");
  // Cut inside a character: the stray bytes are escaped, not passed on.
  EXPECT_EQ(printable("ab\xe6\x97\xa5", 3), "ab\\xe6...");
}

TEST(LogLimiter, LetsOneLineThroughPerIntervalAndCountsTheRest) {
  log_limiter limit{1s};
  auto t0 = log_limiter::clock::time_point{} + 100s;
  auto first = limit.admit(t0);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, 0u);
  EXPECT_FALSE(limit.admit(t0 + 10ms));
  EXPECT_FALSE(limit.admit(t0 + 999ms));
  auto next = limit.admit(t0 + 1s);
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, 2u) << "the two held back are counted";
  EXPECT_EQ(log_limiter::more(*next), " (and 2 more like it)");
  EXPECT_EQ(log_limiter::more(0), "");
  auto after = limit.admit(t0 + 5s);
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, 0u) << "the count starts again";
}
