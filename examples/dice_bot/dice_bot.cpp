#include "dice_bot/dice_bot.hpp"

#include <caf/actor_system.hpp>

#include <cctype>

namespace parley::examples {

using namespace actors;

const std::string dice_usage = "usage: /roll NdM with N from 1 to 100 dice and M from 2 to "
                               "1000 sides, e.g. /roll 2d6";

const std::string dice_help = "dice-bot commands: /roll NdM rolls N dice with M sides (e.g. "
                              "/roll 2d6; /roll alone rolls 1d6), /help shows this text";

namespace {

std::string_view trim(std::string_view x) {
  while (!x.empty() && std::isspace(static_cast<unsigned char>(x.front())))
    x.remove_prefix(1);
  while (!x.empty() && std::isspace(static_cast<unsigned char>(x.back())))
    x.remove_suffix(1);
  return x;
}

/// Digits only, at most 4 of them (the limits need no more), so the value
/// cannot overflow; nothing otherwise.
std::optional<uint32_t> parse_number(std::string_view x) {
  if (x.empty() || x.size() > 4)
    return std::nullopt;
  uint32_t result = 0;
  for (char c : x) {
    if (c < '0' || c > '9')
      return std::nullopt;
    result = result * 10 + static_cast<uint32_t>(c - '0');
  }
  return result;
}

/// If `text` is the command `cmd` (alone or followed by blanks and an
/// argument), the argument; nothing if it is not that command. "/rolling" is
/// not "/roll".
std::optional<std::string_view> command_arg(std::string_view text, std::string_view cmd) {
  text = trim(text);
  if (text.substr(0, cmd.size()) != cmd)
    return std::nullopt;
  auto rest = text.substr(cmd.size());
  if (!rest.empty() && !std::isspace(static_cast<unsigned char>(rest.front())))
    return std::nullopt;
  return trim(rest);
}

} // namespace

// -- pure logic ---------------------------------------------------------------------

std::optional<dice_spec> parse_dice(std::string_view text) {
  text = trim(text);
  auto d = text.find_first_of("dD");
  if (d == std::string_view::npos)
    return std::nullopt;
  dice_spec result;
  if (d == 0) {
    result.count = 1; // "d20"
  } else if (auto n = parse_number(text.substr(0, d))) {
    result.count = *n;
  } else {
    return std::nullopt;
  }
  auto sides = parse_number(text.substr(d + 1));
  if (!sides)
    return std::nullopt;
  result.sides = *sides;
  if (result.count < min_dice || result.count > max_dice || result.sides < min_sides
      || result.sides > max_sides)
    return std::nullopt;
  return result;
}

roll_result roll(const dice_spec& spec, std::mt19937& rng) {
  std::uniform_int_distribution<uint32_t> die{1, spec.sides};
  roll_result result;
  result.faces.reserve(spec.count);
  for (uint32_t i = 0; i < spec.count; ++i) {
    auto face = die(rng);
    result.faces.push_back(face);
    result.total += face;
  }
  return result;
}

std::string format_roll(std::string_view user, const dice_spec& spec, const roll_result& res) {
  std::string result{user};
  result += " rolled ";
  result += std::to_string(spec.count) + "d" + std::to_string(spec.sides) + ": ";
  for (size_t i = 0; i < res.faces.size(); ++i) {
    if (i > 0)
      result += " + ";
    result += std::to_string(res.faces[i]);
  }
  if (res.faces.size() > 1)
    result += " = " + std::to_string(res.total);
  return result;
}

// -- the behaviour -------------------------------------------------------------------

join_verdict dice_bot_state::on_join(const join_event& ev) {
  room_effects fx;
  fx.messages.push_back(
    say{std::string{dice_bot_sender}, "welcome, " + ev.user + "! type /help for dice commands", {}});
  return join_verdict::accepted(std::move(fx));
}

publish_verdict dice_bot_state::on_publish(const publish_event& ev) {
  if (auto arg = command_arg(ev.text, "/roll")) {
    auto spec = arg->empty() ? std::optional<dice_spec>{dice_spec{}} : parse_dice(*arg);
    if (!spec)
      return publish_verdict::rejected(dice_usage);
    // The command is published as sent, so the room sees who asked for what;
    // the bot's answer follows it.
    room_effects fx;
    fx.messages.push_back(
      say{std::string{dice_bot_sender}, format_roll(ev.user, *spec, roll(*spec, rng)), {}});
    return publish_verdict::passed(std::move(fx));
  }
  if (command_arg(ev.text, "/help")) {
    room_effects fx;
    fx.messages.push_back(say{std::string{dice_bot_sender}, dice_help, {}});
    return publish_verdict::answered(std::move(fx));
  }
  return publish_verdict::passed();
}

room_behavior_actor::behavior_type
dice_bot_impl(room_behavior_actor::stateful_pointer<dice_bot_state> self, std::mt19937 rng) {
  self->state.rng = std::move(rng);
  return {
    [self](on_join_atom, const join_event& ev) { return self->state.on_join(ev); },
    [self](on_publish_atom, const publish_event& ev) { return self->state.on_publish(ev); },
    [](on_leave_atom, const leave_event&) { return room_effects{}; },
    [](on_tick_atom, const tick_event&) { return room_effects{}; },
  };
}

room_behavior_rule dice_bot_rule(std::string prefix, std::optional<uint32_t> seed) {
  room_behavior_rule rule;
  rule.prefix = std::move(prefix);
  rule.factory = [seed](caf::actor_system& sys, const std::string&) -> room_behavior_actor {
    std::mt19937 rng{seed ? *seed : std::random_device{}()};
    return sys.spawn(dice_bot_impl, std::move(rng));
  };
  return rule;
}

} // namespace parley::examples
