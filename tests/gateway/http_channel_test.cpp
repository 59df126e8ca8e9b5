// The HTTP transports' session (internal/http_channel.hpp) without sockets:
// frame numbers and acknowledgements, the outbound bound (a slow consumer;
// an event stream's resume window), one receiver at a time, idle sweeps,
// keys, and the paths it answers. tests/js/http_transports.test.mjs drives
// the same over HTTP against the real binary.

#include "parley/gateway/internal/http_channel.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

using namespace parley::gateway;
using namespace parley::gateway::internal;
using parley::actors::sink_status;

namespace {

/// Records what the channel hands its connection actor.
struct fake_connection : connection_handle {
  std::vector<std::string>* delivered;
  bool* stopped;
  fake_connection(std::vector<std::string>* d, bool* s) : delivered(d), stopped(s) {
    // nop
  }
  void deliver(std::string_view payload, parley::proto::encoding) override {
    delivered->emplace_back(payload);
  }
  void stop() override {
    *stopped = true;
  }
};

std::shared_ptr<const std::string> frame(const std::string& s) {
  return std::make_shared<const std::string>(s);
}

class HttpChannel : public ::testing::Test {
protected:
  std::shared_ptr<http_channel> make(size_t max_frames = 4) {
    gateway_config cfg;
    cfg.outbound.max_frames = max_frames;
    cfg.outbound.max_bytes = 1 << 20;
    state = std::make_shared<shared_state>(
      cfg,
      [this](std::string, parley::actors::frame_sink_ptr s, std::string token) {
        sink = std::move(s);
        given_token = std::move(token);
        return std::make_unique<fake_connection>(&delivered, &stopped);
      },
      std::make_shared<metrics>());
    auto ch = std::make_shared<http_channel>(state, connection_slot{state, "127.0.0.1"}, "id1",
                                             "the-key", false);
    ch->start("tok");
    return ch;
  }

  std::shared_ptr<shared_state> state;
  parley::actors::frame_sink_ptr sink;
  std::string given_token;
  std::vector<std::string> delivered;
  bool stopped = false;
};

std::vector<std::string> texts(const http_channel::batch& b) {
  std::vector<std::string> out;
  for (auto& f : b.frames)
    out.push_back(*f);
  return out;
}

} // namespace

TEST_F(HttpChannel, NumbersFramesAndKeepsThemUntilAcknowledged) {
  auto ch = make(8);
  EXPECT_EQ(given_token, "tok");
  ASSERT_TRUE(sink);
  for (auto s : {"a", "b", "c"})
    EXPECT_EQ(sink->send(frame(s)), sink_status::queued);
  auto all = ch->take(0, 1 << 20, false);
  EXPECT_EQ(texts(all), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(all.first, 1u);
  EXPECT_EQ(all.last, 3u);
  // Taken is not acknowledged: the same cursor gets the same frames.
  EXPECT_EQ(texts(ch->take(0, 1 << 20, false)), texts(all));
  EXPECT_TRUE(ch->ack(2));
  auto rest = ch->take(2, 1 << 20, false);
  EXPECT_EQ(texts(rest), (std::vector<std::string>{"c"}));
  EXPECT_EQ(rest.first, 3u);
  EXPECT_FALSE(ch->ack(4)) << "a frame never sent";
  EXPECT_EQ(ch->queued().frames, 1u);
  // A batch stops at the byte limit, but always carries one frame.
  EXPECT_EQ(sink->send(frame(std::string(100, 'x'))), sink_status::queued);
  EXPECT_EQ(ch->take(2, 10, false).frames.size(), 1u);
}

TEST_F(HttpChannel, AClientThatTakesNothingIsClosedAsASlowConsumerOnce) {
  auto ch = make(4);
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(sink->send(frame(std::to_string(i))), sink_status::queued);
  EXPECT_EQ(sink->send(frame("over")), sink_status::overflow);
  EXPECT_EQ(sink->send(frame("after")), sink_status::closed);
  auto b = ch->take(0, 1 << 20, false);
  EXPECT_TRUE(b.frames.empty()) << "what it had not taken is dropped";
  ASSERT_TRUE(b.close);
  EXPECT_EQ(b.close->code, 1008);
  EXPECT_NE(b.close->reason.find("slow consumer"), std::string::npos) << b.close->reason;
  EXPECT_FALSE(ch->can_resume_after(0));
}

TEST_F(HttpChannel, AnEventStreamKeepsOnlyTheBoundForAResume) {
  auto ch = make(4);
  for (int i = 1; i <= 4; ++i)
    ASSERT_EQ(sink->send(frame(std::to_string(i))), sink_status::queued);
  // Streamed, frames make room for newer ones instead of overflowing.
  EXPECT_EQ(ch->take(0, 1 << 20, true).last, 4u);
  for (int i = 5; i <= 7; ++i)
    ASSERT_EQ(sink->send(frame(std::to_string(i))), sink_status::queued);
  EXPECT_FALSE(ch->can_resume_after(1)) << "frames 2 and 3 are gone";
  EXPECT_TRUE(ch->can_resume_after(3));
  EXPECT_EQ(texts(ch->take(3, 1 << 20, true)), (std::vector<std::string>{"4", "5", "6", "7"}));
  // Streamed frames (up to 7) make room again; frames not streamed yet
  // count in full: four of them past the bound is a slow consumer.
  for (int i = 8; i <= 11; ++i)
    ASSERT_EQ(sink->send(frame(std::to_string(i))), sink_status::queued) << i;
  EXPECT_EQ(sink->send(frame("12")), sink_status::overflow);
}

TEST_F(HttpChannel, ANewReceiverSupersedesTheOldOneAndWakesIt) {
  auto ch = make();
  int first_woken = 0;
  int second_woken = 0;
  auto t1 = ch->attach([&] { ++first_woken; });
  EXPECT_TRUE(ch->is_current(t1));
  auto t2 = ch->attach([&] { ++second_woken; });
  EXPECT_EQ(first_woken, 1);
  EXPECT_FALSE(ch->is_current(t1));
  EXPECT_TRUE(ch->is_current(t2));
  sink->send(frame("x"));
  EXPECT_EQ(second_woken, 1);
  EXPECT_EQ(first_woken, 1);
  ch->detach(t1); // a stale token changes nothing
  EXPECT_TRUE(ch->is_current(t2));
  ch->detach(t2);
  sink->send(frame("y"));
  EXPECT_EQ(second_woken, 1) << "no receiver, nobody woken";
}

TEST_F(HttpChannel, TheCloseComesAfterEveryFrameQueuedBeforeIt) {
  auto ch = make(8);
  int woken = 0;
  ch->attach([&] { ++woken; });
  sink->send(frame("last words"));
  sink->close(parley::actors::close_cause::flooding);
  EXPECT_EQ(woken, 2);
  auto partial = ch->take(0, 1, false);
  EXPECT_EQ(texts(partial), (std::vector<std::string>{"last words"}));
  ASSERT_TRUE(partial.close) << "nothing is left before it";
  EXPECT_EQ(partial.close->code, 1008);
  EXPECT_EQ(partial.close->reason, "rate limit exceeded");
  ch->deliver(R"({"ref":"late","ping":{}})");
  EXPECT_TRUE(delivered.empty()) << "a closed session delivers nothing more";
}

TEST_F(HttpChannel, SweepsCloseASessionNobodyPollsAndForgetFinishedOnes) {
  auto ch = make();
  auto now = http_channel::clock::now();
  EXPECT_FALSE(ch->sweep(now, std::chrono::seconds(60)));
  auto token = ch->attach([] {});
  EXPECT_FALSE(ch->sweep(now + std::chrono::hours(1), std::chrono::seconds(60)))
    << "a waiting poll keeps it";
  ch->detach(token);
  EXPECT_TRUE(ch->sweep(http_channel::clock::now() + std::chrono::seconds(61),
                        std::chrono::seconds(60)));
  auto b = ch->take(0, 1 << 20, false);
  ASSERT_TRUE(b.close);
  EXPECT_EQ(b.close->code, 1001);
  auto other = make();
  other->finish();
  EXPECT_TRUE(other->sweep(http_channel::clock::now(), std::chrono::seconds(60)));
  EXPECT_TRUE(stopped) << "finishing stops the connection actor";
}

TEST_F(HttpChannel, OnlyItsOwnKeyOpensIt) {
  auto ch = make();
  EXPECT_TRUE(ch->key_matches("the-key"));
  EXPECT_FALSE(ch->key_matches("the-kez"));
  EXPECT_FALSE(ch->key_matches("the-key "));
  EXPECT_FALSE(ch->key_matches(""));
  auto a = random_token();
  auto b = random_token();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos) << a;
  EXPECT_NE(a, b);
}

TEST(HttpChannelPath, FindsTheSessionAndTheVerbAndNothingElse) {
  auto p = channel_path("/v1/sessions/abc/poll");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->first, "abc");
  EXPECT_EQ(p->second, "poll");
  auto bare = channel_path("/v1/sessions/abc");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->second, "");
  for (auto bad : {"/v1/sessions", "/v1/sessions/", "/v1/sessions//poll", "/v1/session/abc",
                   "/v1/sessions/abc/poll/more", "/ws", "", "/v1/sessionsabc"})
    EXPECT_FALSE(channel_path(bad)) << bad;
}
