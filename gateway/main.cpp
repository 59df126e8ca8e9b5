// parley-gateway: the stock gateway, which is run() (parley/gateway/run.hpp)
// with the two behaviours Parley ships as examples. A user's own gateway is
// this file with behaviours of theirs (docs/writing-actors.md).

#include "dice_bot/dice_bot.hpp"
#include "parley/gateway/run.hpp"
#include "tic_tac_toe/tic_tac_toe.hpp"

#include <chrono>

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  parley::gateway::behavior_registry behaviors;
  behaviors.add("dice-bot", "rolls dice: /roll 2d6, /help",
                parley::examples::dice_bot_rule("").factory);
  // A player has 60 s for a move (a tick a second, 60 ticks).
  auto game = parley::examples::tic_tac_toe_rule("", 1s, 60);
  behaviors.add("tic-tac-toe", "a game for two, the first two to join: /move 1-9, /board, /reset; 60 s a move", game.factory,
                game.tick);
  return parley::gateway::run(argc, argv, behaviors, "parley-gateway");
}
