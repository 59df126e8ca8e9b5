// Tic-tac-toe in a room: ann (X) and bob (O) play while carol watches; the
// game refuses a taken square, a move out of turn, a spectator's move and a
// move after the end; ann wins on a diagonal, resets, and bob leaves. The
// program prints what the room published and checks it.

#include "parley/actors/room.hpp"
#include "parley/runtime/node.hpp"
#include "tic_tac_toe/tic_tac_toe.hpp"

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

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  parley::runtime::announce_runtime(cfg);
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  // A room as the rooms directory would start one for "ttt:1", given the
  // rule tic_tac_toe_rule("ttt:") in rooms_config.behaviors.
  room_config rcfg;
  rcfg.idle_timeout = caf::timespan{0};
  rcfg.backlog = 100;
  auto room = sys.spawn(room_impl, std::string{"ttt:1"}, rcfg, std::make_shared<room_memory>(),
                        tic_tac_toe_rule("ttt:"));
  auto ann = sys.spawn(quiet_member, std::string{"ann"});
  auto bob = sys.spawn(quiet_member, std::string{"bob"});
  auto carol = sys.spawn(quiet_member, std::string{"carol"});

  bool ok = true;
  for (auto& [who, handle] : {std::pair{"ann", ann}, std::pair{"bob", bob}, std::pair{"carol", carol}})
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
  publish(ann, "/move 5");
  publish(bob, "/move 5");   // taken
  publish(ann, "/move 9");   // not ann's turn
  publish(carol, "/move 9"); // a spectator
  publish(bob, "/move 1");
  publish(ann, "/move 3");
  publish(bob, "/move 2");
  publish(ann, "/move 7");   // 3-5-7: X wins
  publish(bob, "/move 9");   // the game is over
  publish(carol, "gg");
  publish(ann, "/reset");
  self->request(room, 1s, leave_atom::value, bob.address()).receive([](bool) {}, [](caf::error&) {});

  std::vector<chat_message> published;
  self->request(room, 1s, history_atom::value, history_request{})
    .receive([&](history_reply& reply) { published = std::move(reply.messages); },
             [&](caf::error& err) {
               std::cout << "history: " << sys.render(err) << "\n";
               ok = false;
             });
  for (auto& m : published)
    std::cout << "#" << m.seq << " " << m.sender << ": " << m.text << "\n";

  auto game = std::string{tic_tac_toe_sender};
  std::vector<std::pair<std::string, std::string>> expected{
    {game, "ann plays X"},
    {game, "bob plays O"},
    {game, "carol is watching"},
    {"ann", "X on 5"},
    {"bob", "O on 1"},
    {"ann", "X on 3"},
    {"bob", "O on 2"},
    {"ann", "X on 7"},
    {game, "X (ann) wins!"},
    {"carol", "gg"},
    {game, "ann reset the game"},
    {game, "O (bob) left; the game starts over, carol takes O"},
  };
  std::vector<std::pair<std::string, std::string>> seen;
  for (auto& m : published)
    seen.emplace_back(m.sender, first_line(m.text));
  if (seen != expected) {
    std::cout << "unexpected messages; expected (first lines):\n";
    for (auto& [sender, text] : expected)
      std::cout << "  " << sender << ": " << text << "\n";
    ok = false;
  } else if (published[7].body != "OOX.X.X..") {
    std::cout << "the winning move's board should be OOX.X.X..\n";
    ok = false;
  }
  std::vector<std::string> expected_refusals{
    "square 5 is taken",
    "not your turn: O (bob) to move",
    "spectators cannot move; the players are X (ann) and O (bob)",
    "the game is over; /reset for a new one",
  };
  if (refusals != expected_refusals) {
    std::cout << "expected refusals:\n";
    for (auto& r : expected_refusals)
      std::cout << "  " << r << "\n";
    ok = false;
  }

  for (auto& x : {caf::actor_cast<caf::actor>(ann), caf::actor_cast<caf::actor>(bob),
                  caf::actor_cast<caf::actor>(carol), caf::actor_cast<caf::actor>(room)})
    self->send_exit(x, caf::exit_reason::user_shutdown);
  if (!ok)
    return 1;
  std::cout << "tic_tac_toe example: OK\n";
}
