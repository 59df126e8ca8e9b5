#pragma once

/// @file
/// The gateway as a library entry point: `parley-gateway` is `run()` with the
/// behaviours it ships, and a user's own gateway is `run()` with theirs — every
/// flag, config key, signal and endpoint of the stock binary, plus the
/// user's room behaviours, without a fork:
///
///     int main(int argc, char** argv) {
///       parley::gateway::behavior_registry behaviors;
///       behaviors.add("echo-bot", "repeats what it is told", make_echo_bot);
///       return parley::gateway::run(argc, argv, behaviors);
///     }
///
/// Configuration gives rooms their behaviour by name:
/// `--room-behavior='bots:*=echo-bot'` (or `room-behavior = ["bots:*=echo-bot"]`
/// in the TOML file). docs/writing-actors.md walks through one built out of
/// tree against the installed SDK.

#include "parley/actors/room_behavior.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::gateway {

/// A behaviour a gateway can give rooms, by name.
struct named_behavior {
  /// What configuration calls it: 1 to 32 of a-z, 0-9 and '-'.
  std::string name;
  /// One line for `--help` and the start-up log.
  std::string description;
  actors::room_behavior_factory factory;
  /// How often it gets `on_tick` (zero: never).
  caf::timespan tick{0};
};

/// The behaviours a gateway knows, by name.
class behavior_registry {
public:
  /// Registers `factory` as `name`. Throws std::invalid_argument for a name
  /// that is not 1 to 32 of a-z, 0-9 and '-', a name already taken, or an
  /// empty factory: a programming error, found at start-up.
  behavior_registry& add(std::string name, std::string description,
                         actors::room_behavior_factory factory, caf::timespan tick = {});

  /// The behaviour called `name`, or null.
  const named_behavior* find(std::string_view name) const;

  const std::vector<named_behavior>& all() const {
    return entries_;
  }

private:
  std::vector<named_behavior> entries_;
};

/// A rule from configuration: `PATTERN=NAME`, where PATTERN is a room name,
/// `PREFIX*` or `*` (as in room grants) and NAME a registered behaviour.
/// Returns why not, or nullopt.
std::optional<std::string> check_behavior_rule(std::string_view text,
                                               const behavior_registry& behaviors);

/// The room rule a checked `PATTERN=NAME` stands for.
actors::room_behavior_rule make_behavior_rule(std::string_view text,
                                              const behavior_registry& behaviors);

/// Runs a gateway: reads flags, `PARLEY_*` variables and `--config`,
/// starts the node, serves until SIGTERM/SIGINT and drains. Returns the
/// process's exit status (0 after a clean stop, 2 for a usage error, 1 when
/// the gateway could not start). `program` names it in messages and
/// `--version` (empty: the name it was started as, argv[0] without its
/// folder). One gateway per process: signals are the process's.
int run(int argc, char** argv, const behavior_registry& behaviors = {},
        std::string_view program = {});

} // namespace parley::gateway
