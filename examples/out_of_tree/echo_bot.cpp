#include "echo_bot.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <string_view>

namespace echo {

using namespace parley::actors;

room_behavior_actor::behavior_type echo_bot(std::string) {
  return {
    [](on_join_atom, const join_event&) { return join_verdict::accepted(); },
    [](on_publish_atom, const publish_event& ev) {
      constexpr std::string_view command = "/echo ";
      if (ev.text.compare(0, command.size(), command) != 0)
        return publish_verdict::passed();
      room_effects fx;
      fx.messages.push_back(say{"echo-bot", ev.user + " said: " + ev.text.substr(command.size()), {}});
      return publish_verdict::answered(std::move(fx));
    },
    [](on_leave_atom, const leave_event&) { return room_effects{}; },
    [](on_tick_atom, const tick_event&) { return room_effects{}; },
  };
}

room_behavior_actor spawn_echo_bot(caf::actor_system& sys, const std::string& room) {
  return sys.spawn(echo_bot, room);
}

} // namespace echo
