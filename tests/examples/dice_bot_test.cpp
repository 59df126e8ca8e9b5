#include "dice_bot/dice_bot.hpp"

#include "parley/actors/rooms_directory.hpp"
#include "parley/runtime/supervisor.hpp"
#include "support/behavior_room.hpp"

#include <algorithm>
#include <set>

using namespace parley::actors;
using namespace parley::examples;
using parley::test::behavior_member;
using parley::test::behavior_room_test;

namespace {

constexpr uint32_t seed = 1234;

/// The faces and total of a bot answer "ann rolled 3d6: 1 + 4 + 2 = 7".
struct parsed_roll {
  std::string user;
  dice_spec spec;
  std::vector<uint32_t> faces;
  uint64_t total = 0;
};

std::optional<parsed_roll> parse_answer(const std::string& text) {
  parsed_roll result;
  auto rolled = text.find(" rolled ");
  auto colon = text.find(": ");
  if (rolled == std::string::npos || colon == std::string::npos)
    return std::nullopt;
  result.user = text.substr(0, rolled);
  auto spec = parse_dice(text.substr(rolled + 8, colon - rolled - 8));
  if (!spec)
    return std::nullopt;
  result.spec = *spec;
  auto rest = text.substr(colon + 2);
  auto eq = rest.find(" = ");
  auto faces = rest.substr(0, eq);
  size_t pos = 0;
  while (pos <= faces.size()) {
    auto plus = faces.find(" + ", pos);
    result.faces.push_back(
      static_cast<uint32_t>(std::stoul(faces.substr(pos, plus == std::string::npos ? plus : plus - pos))));
    if (plus == std::string::npos)
      break;
    pos = plus + 3;
  }
  result.total = eq == std::string::npos ? result.faces.front() : std::stoull(rest.substr(eq + 3));
  return result;
}

/// The last `n` messages `m` received, as (sender, text).
std::vector<std::pair<std::string, std::string>> last(const behavior_member& m, size_t n) {
  auto all = m.messages();
  std::vector<std::pair<std::string, std::string>> result;
  for (size_t i = all.size() > n ? all.size() - n : 0; i < all.size(); ++i)
    result.emplace_back(all[i].sender(), all[i].text());
  return result;
}

class DiceBotTest : public behavior_room_test {
protected:
  void SetUp() override {
    start(dice_bot_rule("dice:", seed), "dice:table");
  }

  /// The bot's answers in `in`, oldest first.
  std::vector<std::string> answers(room_actor in = {}) {
    std::vector<std::string> result;
    for (auto& m : published(in))
      if (m.sender == dice_bot_sender && m.text.find(" rolled ") != std::string::npos)
        result.push_back(m.text);
    return result;
  }
};

using lines = std::vector<std::pair<std::string, std::string>>;

} // namespace

// -- pure logic ---------------------------------------------------------------------

TEST(DiceLogicTest, ParsesNdMAndDM) {
  EXPECT_EQ(parse_dice("2d6"), (dice_spec{2, 6}));
  EXPECT_EQ(parse_dice("d20"), (dice_spec{1, 20}));
  EXPECT_EQ(parse_dice(" 3D8 "), (dice_spec{3, 8}));
  EXPECT_EQ(parse_dice("100d1000"), (dice_spec{100, 1000}));
  EXPECT_EQ(parse_dice("1d2"), (dice_spec{1, 2}));
  EXPECT_EQ(parse_dice("007d010"), (dice_spec{7, 10}));
}

TEST(DiceLogicTest, RefusesMalformedAndOutOfLimits) {
  for (auto bad : {"", "d", "2d", "2x6", "-1d6", "+2d6", "2d+6", "2d6 extra", "2 d6", "2d6d6",
                   "1.5d6", "0d6", "101d6", "1d1", "1d0", "1d1001", "99999d6", "1d99999",
                   "4294967297d6", "abc"})
    EXPECT_FALSE(parse_dice(bad)) << '"' << bad << '"';
}

TEST(DiceLogicTest, RollStaysInRangeAndSumsItsFaces) {
  std::mt19937 rng{seed};
  std::set<uint32_t> seen;
  for (int i = 0; i < 20; ++i) {
    auto res = roll({100, 3}, rng);
    ASSERT_EQ(res.faces.size(), 100u);
    uint64_t sum = 0;
    for (auto f : res.faces) {
      EXPECT_GE(f, 1u);
      EXPECT_LE(f, 3u);
      seen.insert(f);
      sum += f;
    }
    EXPECT_EQ(res.total, sum);
  }
  EXPECT_EQ(seen, (std::set<uint32_t>{1, 2, 3})) << "every face comes up";
}

TEST(DiceLogicTest, SameSeedSameRolls) {
  std::mt19937 a{seed};
  std::mt19937 b{seed};
  std::mt19937 c{seed + 1};
  auto ra = roll({50, 1000}, a).faces;
  EXPECT_EQ(ra, roll({50, 1000}, b).faces);
  EXPECT_NE(ra, roll({50, 1000}, c).faces);
}

TEST(DiceLogicTest, FormatsOneDieWithoutASum) {
  EXPECT_EQ(format_roll("ann", {2, 6}, {{3, 5}, 8}), "ann rolled 2d6: 3 + 5 = 8");
  EXPECT_EQ(format_roll("bob", {1, 20}, {{17}, 17}), "bob rolled 1d20: 17");
}

// -- through a room -----------------------------------------------------------------

TEST_F(DiceBotTest, JoinerIsGreetedByTheBot) {
  auto& ann = join_new("ann");
  EXPECT_EQ(last(ann, 1), (lines{{"#dice-bot", "welcome, ann! type /help for dice commands"}}));
}

TEST_F(DiceBotTest, RollPublishesTheCommandThenTheAnswerInRange) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  auto seq = publish(ann, "/roll 3d6");
  ASSERT_TRUE(seq) << render(seq.error());
  auto msgs = bob.messages();
  ASSERT_GE(msgs.size(), 2u);
  auto& cmd = msgs[msgs.size() - 2];
  auto& answer = msgs.back();
  EXPECT_EQ(cmd.sender(), "ann");
  EXPECT_EQ(cmd.text(), "/roll 3d6");
  EXPECT_EQ(cmd.seq(), *seq) << "the ack is the command's seq";
  EXPECT_EQ(answer.sender(), "#dice-bot");
  EXPECT_EQ(answer.seq(), *seq + 1);
  auto parsed = parse_answer(answer.text());
  ASSERT_TRUE(parsed) << answer.text();
  EXPECT_EQ(parsed->user, "ann");
  EXPECT_EQ(parsed->spec, (dice_spec{3, 6}));
  ASSERT_EQ(parsed->faces.size(), 3u);
  uint64_t sum = 0;
  for (auto f : parsed->faces) {
    EXPECT_GE(f, 1u);
    EXPECT_LE(f, 6u);
    sum += f;
  }
  EXPECT_EQ(parsed->total, sum);
}

TEST_F(DiceBotTest, RollsAreThoseOfTheSeededGenerator) {
  auto& ann = join_new("ann");
  for (auto cmd : {"/roll 2d6", "/roll d20", "/roll 100d1000", "/roll"})
    ASSERT_TRUE(publish(ann, cmd)) << cmd;
  std::mt19937 rng{seed};
  std::vector<std::string> expected;
  for (dice_spec spec : {dice_spec{2, 6}, dice_spec{1, 20}, dice_spec{100, 1000}, dice_spec{1, 6}})
    expected.push_back(format_roll("ann", spec, roll(spec, rng)));
  EXPECT_EQ(answers(), expected);
}

TEST_F(DiceBotTest, SameSeedReproducesARoomsRollsAndAnotherSeedDoesNot) {
  auto script = [&](room_actor r, const std::string& user) {
    auto& m = join_new(user, r);
    for (int i = 0; i < 5; ++i)
      EXPECT_TRUE(publish(m, "/roll 10d1000", r));
    return answers(r);
  };
  auto first = script(room, "ann");
  auto again = script(start(dice_bot_rule("dice:", seed), "dice:again"), "ann");
  auto other = script(start(dice_bot_rule("dice:", seed + 1), "dice:other"), "ann");
  ASSERT_EQ(first.size(), 5u);
  EXPECT_EQ(first, again);
  EXPECT_NE(first, other);
}

TEST_F(DiceBotTest, MalformedRollIsRefusedWithUsageAndNothingIsPublished) {
  auto& ann = join_new("ann");
  auto before = published().size();
  for (auto cmd : {"/roll 2x6", "/roll abc", "/roll 2d", "/roll 2d6 please", "/roll -1d6",
                   "/roll 0d6", "/roll 101d6", "/roll 1d1", "/roll 1d1001"}) {
    auto res = publish(ann, cmd);
    ASSERT_FALSE(res) << cmd;
    EXPECT_EQ(refusal(res.error()), dice_usage) << cmd << ": " << render(res.error());
  }
  EXPECT_EQ(published().size(), before);
}

TEST_F(DiceBotTest, LimitsAreInclusive) {
  auto& ann = join_new("ann");
  ASSERT_TRUE(publish(ann, "/roll 1d2"));
  ASSERT_TRUE(publish(ann, "/roll 100d1000"));
  auto got = answers();
  ASSERT_EQ(got.size(), 2u);
  auto small = parse_answer(got[0]);
  auto big = parse_answer(got[1]);
  ASSERT_TRUE(small && big);
  ASSERT_EQ(small->faces.size(), 1u);
  EXPECT_TRUE(small->faces[0] == 1 || small->faces[0] == 2);
  ASSERT_EQ(big->faces.size(), 100u);
  for (auto f : big->faces) {
    EXPECT_GE(f, 1u);
    EXPECT_LE(f, 1000u);
  }
}

TEST_F(DiceBotTest, PlainTextAndOtherCommandsPassUnchanged) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  ASSERT_TRUE(publish(ann, "hello"));
  ASSERT_TRUE(publish(ann, "/rolling on the floor"));
  ASSERT_TRUE(publish(ann, "/shrug"));
  ASSERT_TRUE(publish(ann, "I said /roll 2d6"));
  EXPECT_EQ(last(bob, 4), (lines{{"ann", "hello"},
                                 {"ann", "/rolling on the floor"},
                                 {"ann", "/shrug"},
                                 {"ann", "I said /roll 2d6"}}));
  EXPECT_TRUE(answers().empty());
}

TEST_F(DiceBotTest, HelpIsAnsweredByTheBotAndTheCommandIsNotPublished) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  auto before = bob.messages().size();
  auto seq = publish(ann, "/help");
  ASSERT_TRUE(seq);
  auto msgs = bob.messages();
  ASSERT_EQ(msgs.size(), before + 1);
  EXPECT_EQ(msgs.back().sender(), "#dice-bot");
  EXPECT_EQ(msgs.back().text(), dice_help);
  EXPECT_EQ(msgs.back().seq(), *seq) << "the ack is the answer's seq";
}

// -- registered with the rooms directory --------------------------------------------

class DiceBotDirectoryTest : public behavior_room_test {
protected:
  parley::runtime::supervisor_actor root;

  void TearDown() override {
    behavior_room_test::TearDown();
    if (root)
      self->send_exit(root, caf::exit_reason::user_shutdown);
    run();
  }

  /// The rooms directory under `root`.
  rooms_actor directory() {
    using parley::runtime::find_child_atom;
    using parley::runtime::supervisor_actor;
    auto sub = ask<caf::actor>(root, find_child_atom::value, std::string{"rooms"});
    EXPECT_TRUE(sub);
    if (!sub)
      return {};
    auto dir = ask<caf::actor>(caf::actor_cast<supervisor_actor>(*sub), find_child_atom::value,
                               std::string{"directory"});
    EXPECT_TRUE(dir);
    return dir ? caf::actor_cast<rooms_actor>(*dir) : rooms_actor{};
  }
};

TEST_F(DiceBotDirectoryTest, RoomsWhoseNameStartsWithThePrefixGetTheBot) {
  rooms_config rooms;
  rooms.behaviors.push_back(dice_bot_rule("dice:", seed));
  root = parley::runtime::spawn_supervisor(sys, {}, {rooms_child(rooms)});
  run();
  auto dir = directory();
  ASSERT_TRUE(dir);
  auto dice_room = ask<room_actor>(dir, lookup_atom::value, std::string{"dice:lobby"});
  auto plain_room = ask<room_actor>(dir, lookup_atom::value, std::string{"lobby"});
  ASSERT_TRUE(dice_room && plain_room);
  auto& ann = join_new("ann", *dice_room);
  ASSERT_TRUE(publish(ann, "/roll 2d6", *dice_room));
  std::mt19937 rng{seed};
  EXPECT_EQ(last(ann, 1), (lines{{"#dice-bot", format_roll("ann", {2, 6}, roll({2, 6}, rng))}}));
  auto& bob = join_new("bob", *plain_room);
  ASSERT_TRUE(publish(bob, "/roll 2d6", *plain_room));
  EXPECT_EQ(last(bob, 1), (lines{{"bob", "/roll 2d6"}})) << "no bot in a room without the prefix";
}

TEST(DiceBotStateTest, AnswersWithoutARoom) {
  // The logic without a room: what a unit test of your own behaviour looks like.
  dice_bot_state st;
  st.rng.seed(seed);
  auto v = st.on_publish(publish_event{"dice:x", "ann", "/roll 2d6", {}});
  EXPECT_EQ(v.action, publish_action::pass);
  ASSERT_EQ(v.effects.messages.size(), 1u);
  std::mt19937 rng{seed};
  EXPECT_EQ(v.effects.messages[0].text, format_roll("ann", {2, 6}, roll({2, 6}, rng)));
  EXPECT_EQ(st.on_publish(publish_event{"dice:x", "ann", "/roll x", {}}).action,
            publish_action::reject);
}
