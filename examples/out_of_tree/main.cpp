// echo-gateway: Parley's gateway with one behaviour of our own. Rooms get it
// from configuration: echo-gateway --room-behavior='echo:*=echo-bot'.

#include "echo_bot.hpp"

#include <parley/gateway/run.hpp>

int main(int argc, char** argv) {
  parley::gateway::behavior_registry behaviors;
  behaviors.add("echo-bot", "answers /echo TEXT with who said it", echo::spawn_echo_bot);
  return parley::gateway::run(argc, argv, behaviors, "echo-gateway");
}
