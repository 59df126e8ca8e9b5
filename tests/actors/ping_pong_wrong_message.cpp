// Must NOT compile: the Ponger's typed interface accepts (ping_atom, ball)
// only. The CTest `ping_pong_wrong_message_is_rejected` builds this file and
// expects CAF's static assertion to name the mistake.
#include "parley/actors/ping_pong.hpp"

#include <caf/send.hpp>

#include <string>

void send_a_string_to_the_ponger(const parley::actors::ponger_actor& ponger) {
#ifdef PARLEY_WELL_TYPED
  caf::anon_send(ponger, parley::actors::ping_atom::value, parley::actors::ball{1});
#else
  caf::anon_send(ponger, std::string{"not a ball"});
#endif
}
