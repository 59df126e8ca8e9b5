// The dice bot in a room: two members chat, roll, mistype and ask for help;
// the program prints what the room published and checks it against the
// rolls a generator with the same seed makes.

#include "dice_bot/dice_bot.hpp"
#include "parley/actors/room.hpp"
#include "parley/runtime/node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

using namespace parley::actors;
using namespace parley::examples;
using namespace std::chrono_literals;

namespace {

// A member that stands for a player; it joins without a frame sink (the
// room writes it nothing) and the demo reads the room's history instead.
caf::behavior quiet_member(caf::event_based_actor*, std::string) {
  return {[](int) {}};
}

// The reason a behaviour gave for a refusal (the error's context).
std::string reason_of(const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return "?";
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  parley::runtime::announce_runtime(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  // A room as the rooms directory would start one for "dice:lobby", given
  // the rule dice_bot_rule("dice:", 42) in rooms_config.behaviors.
  constexpr uint32_t seed = 42;
  room_config rcfg;
  rcfg.idle_timeout = caf::timespan{0};
  rcfg.backlog = 100;
  auto room = sys.spawn(room_impl, std::string{"dice:lobby"}, rcfg,
                        std::make_shared<room_memory>(), dice_bot_rule("dice:", seed));
  auto ann = sys.spawn(quiet_member, std::string{"ann"});
  auto bob = sys.spawn(quiet_member, std::string{"bob"});

  bool ok = true;
  for (auto& [who, handle] : {std::pair{"ann", ann}, std::pair{"bob", bob}})
    self->request(room, 1s, join_atom::value, join_request{handle.address(), who, encoding::json, {}, {}, nullptr, {}})
      .receive([&](join_reply&) {},
               [&](caf::error& err) {
                 std::cout << who << " could not join: " << sys.render(err) << "\n";
                 ok = false;
               });

  std::vector<std::string> refusals;
  auto publish = [&](const caf::actor& m, std::string text) {
    self->request(room, 1s, publish_atom::value, publish_request{m.address(), text, {}})
      .receive([](seq_t) {},
               [&](caf::error& err) {
                 refusals.push_back(reason_of(err));
                 std::cout << "refused \"" << text << "\": " << refusals.back() << "\n";
               });
  };
  publish(ann, "hello bob");
  publish(ann, "/roll 2d6");
  publish(bob, "/roll 3d20");
  publish(bob, "/roll 2x6");
  publish(bob, "/roll 101d6");
  publish(ann, "/help");
  publish(bob, "/roll");

  std::vector<chat_message> published;
  self->request(room, 1s, history_atom::value, history_request{})
    .receive([&](history_reply& reply) { published = std::move(reply.messages); },
             [&](caf::error& err) {
               std::cout << "history: " << sys.render(err) << "\n";
               ok = false;
             });
  for (auto& m : published)
    std::cout << "#" << m.seq << " " << m.sender << ": " << m.text << "\n";

  // What the room must have published: a generator seeded like the bot's
  // makes the same rolls.
  std::mt19937 rng{seed};
  auto rolled = [&](std::string user, dice_spec spec) {
    return std::pair{std::string{dice_bot_sender}, format_roll(user, spec, roll(spec, rng))};
  };
  auto bot = std::string{dice_bot_sender};
  std::vector<std::pair<std::string, std::string>> expected{
    {bot, "welcome, ann! type /help for dice commands"},
    {bot, "welcome, bob! type /help for dice commands"},
    {"ann", "hello bob"},
    {"ann", "/roll 2d6"},
  };
  expected.push_back(rolled("ann", {2, 6}));
  expected.push_back({"bob", "/roll 3d20"});
  expected.push_back(rolled("bob", {3, 20}));
  expected.push_back({bot, dice_help});
  expected.push_back({"bob", "/roll"});
  expected.push_back(rolled("bob", {1, 6}));
  std::vector<std::pair<std::string, std::string>> seen;
  for (auto& m : published)
    seen.emplace_back(m.sender, m.text);
  if (seen != expected) {
    std::cout << "unexpected messages; expected:\n";
    for (auto& [sender, text] : expected)
      std::cout << "  " << sender << ": " << text << "\n";
    ok = false;
  }
  if (refusals != std::vector<std::string>{dice_usage, dice_usage}) {
    std::cout << "expected two refusals with the usage line\n";
    ok = false;
  }

  for (auto& x : {caf::actor_cast<caf::actor>(ann), caf::actor_cast<caf::actor>(bob),
                  caf::actor_cast<caf::actor>(room)})
    self->send_exit(x, caf::exit_reason::user_shutdown);
  if (!ok)
    return 1;
  std::cout << "dice_bot example: OK\n";
}
