#pragma once

/// @file
/// A dice bot: a custom room behaviour that answers `/roll NdM` and `/help`.
///
/// What it does with each publish:
///
/// | the member sends     | the room publishes                                   |
/// |----------------------|------------------------------------------------------|
/// | `/roll 2d6`          | the command as sent, then "ann rolled 2d6: 3 + 5 = 8" |
/// |                      | from "#dice-bot"                                      |
/// | `/roll`              | the same, for 1d6                                     |
/// | `/roll 2x6`, `0d6`   | nothing: the sender alone gets ERROR_CODE_REFUSED     |
/// |                      | with the usage line, so a typo does not spam the room |
/// | `/help`              | only the bot's help text (the command is swallowed)   |
/// | anything else        | the message unchanged                                 |
///
/// A joiner is greeted by the bot. Randomness comes from the `std::mt19937`
/// the bot is spawned with, so a fixed seed gives the same rolls every time.

#include "parley/actors/room_behavior.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace parley::examples {

/// The name the bot's messages carry as sender.
constexpr std::string_view dice_bot_sender = "#dice-bot";

/// Fewest and most dice in one roll: one die at least, and at most as many as
/// a chat line can list without becoming a wall of numbers.
constexpr uint32_t min_dice = 1;
constexpr uint32_t max_dice = 100;

/// Fewest and most sides of a die: a coin (d2) up to a d1000.
constexpr uint32_t min_sides = 2;
constexpr uint32_t max_sides = 1000;

/// What `/roll` without an argument rolls.
constexpr uint32_t default_dice = 1;
constexpr uint32_t default_sides = 6;

/// The reason sent with a refused `/roll`.
extern const std::string dice_usage;

/// The text `/help` publishes.
extern const std::string dice_help;

// -- pure logic ---------------------------------------------------------------------

/// A roll of `count` dice with `sides` sides each: "2d6".
struct dice_spec {
  uint32_t count = default_dice;
  uint32_t sides = default_sides;

  friend bool operator==(const dice_spec& x, const dice_spec& y) {
    return x.count == y.count && x.sides == y.sides;
  }
};

/// Parses `NdM` (or `dM`, meaning 1dM); nothing if malformed or outside the
/// limits above. Leading and trailing blanks are ignored.
std::optional<dice_spec> parse_dice(std::string_view text);

struct roll_result {
  std::vector<uint32_t> faces;
  uint64_t total = 0;
};

/// Rolls `spec` with `rng`: each face uniform in 1..sides.
roll_result roll(const dice_spec& spec, std::mt19937& rng);

/// "ann rolled 2d6: 3 + 5 = 8" ("ann rolled 1d20: 17" for a single die).
std::string format_roll(std::string_view user, const dice_spec& spec, const roll_result& res);

// -- the behaviour -------------------------------------------------------------------

/// The bot's state: only its random number generator. Runs inside its actor;
/// tests may also call the member functions directly.
struct dice_bot_state {
  static inline const char* name = "parley.dice_bot";

  std::mt19937 rng;

  actors::join_verdict on_join(const actors::join_event& ev);
  actors::publish_verdict on_publish(const actors::publish_event& ev);
};

/// The dice bot as a room behaviour, rolling with `rng`.
actors::room_behavior_actor::behavior_type
dice_bot_impl(actors::room_behavior_actor::stateful_pointer<dice_bot_state> self, std::mt19937 rng);

/// A rule giving every room whose name starts with `prefix` a dice bot. With
/// a seed, every bot (and every restart of one) rolls the same sequence,
/// which tests and demos want; without one, each bot seeds itself from
/// `std::random_device`.
actors::room_behavior_rule dice_bot_rule(std::string prefix,
                                         std::optional<uint32_t> seed = std::nullopt);

} // namespace parley::examples
