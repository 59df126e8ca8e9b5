#pragma once

/// @file
/// The extension point for custom room logic: a typed actor the room asks at
/// each step of its lifecycle. Users write it as an ordinary CAF behaviour;
/// they never touch the room's internals (see docs/writing-actors.md).
///
/// The room asks one question at a time and waits for the answer before it
/// handles its next request, so a behaviour sees joins and publishes in the
/// room's order and its answers decide the seq order. A behaviour that
/// crashes takes its room down with it (they are linked); the room's
/// supervisor restarts both.

#include "parley/actors/chat.hpp"

#include <caf/timespan.hpp>

#include <functional>

namespace parley::actors {

using on_join_atom = caf::atom_constant<caf::atom("onjoin")>;
using on_publish_atom = caf::atom_constant<caf::atom("onpublish")>;
using on_leave_atom = caf::atom_constant<caf::atom("onleave")>;
using on_tick_atom = caf::atom_constant<caf::atom("ontick")>;

/// A message the behaviour wants the room to publish, as `sender`. The room
/// shows it with a leading '#' (added if missing): a bot's name, which no
/// user name can be.
struct say {
  std::string sender;
  std::string text;
  std::string body;
};

/// Messages to publish after the event, in order.
struct room_effects {
  std::vector<say> messages;
};

struct join_event {
  std::string room;
  std::string user;
  /// Members before this one joins.
  uint32_t member_count = 0;
};

struct join_verdict {
  bool accept = true;
  /// Why not, when refused (sent to the client with ERROR_CODE_REFUSED).
  std::string reason;
  room_effects effects;

  static join_verdict accepted(room_effects fx = {}) {
    return {true, {}, std::move(fx)};
  }
  static join_verdict refused(std::string why) {
    return {false, std::move(why), {}};
  }
};

struct publish_event {
  std::string room;
  std::string user;
  std::string text;
  std::string body;
};

/// What to do with a publish.
enum class publish_action : uint8_t {
  pass,      ///< publish it as sent
  transform, ///< publish `text`/`body` instead
  reject,    ///< refuse it: the client gets ERROR_CODE_REFUSED with `reason`
  answer,    ///< do not publish it; publish `effects` instead
};

struct publish_verdict {
  publish_action action = publish_action::pass;
  std::string text;
  std::string body;
  std::string reason;
  /// Published after the message (or instead of it, for `answer`).
  room_effects effects;

  static publish_verdict passed(room_effects fx = {}) {
    return {publish_action::pass, {}, {}, {}, std::move(fx)};
  }
  static publish_verdict transformed(std::string text, std::string body = {}) {
    return {publish_action::transform, std::move(text), std::move(body), {}, {}};
  }
  static publish_verdict rejected(std::string why) {
    return {publish_action::reject, {}, {}, std::move(why), {}};
  }
  static publish_verdict answered(room_effects fx) {
    return {publish_action::answer, {}, {}, {}, std::move(fx)};
  }
};

struct leave_event {
  std::string room;
  std::string user;
  /// Members left after this one went.
  uint32_t member_count = 0;
};

struct tick_event {
  std::string room;
  uint64_t tick = 0;
};

/// The interface a custom room behaviour implements.
using room_behavior_actor = caf::typed_actor<
  caf::replies_to<on_join_atom, join_event>::with<join_verdict>,
  caf::replies_to<on_publish_atom, publish_event>::with<publish_verdict>,
  caf::replies_to<on_leave_atom, leave_event>::with<room_effects>,
  caf::replies_to<on_tick_atom, tick_event>::with<room_effects>>;

/// Starts the behaviour for a room; called by the room when it starts.
using room_behavior_factory =
  std::function<room_behavior_actor(caf::actor_system&, const std::string& room)>;

/// Which rooms get which behaviour: the first rule whose prefix starts the
/// room's name (or, with `whole_name`, is the room's name) wins.
struct room_behavior_rule {
  std::string prefix;
  room_behavior_factory factory;
  /// Only the room called `prefix`, not every room whose name starts so.
  bool whole_name = false;
  /// How often the behaviour gets `on_tick` (zero: never).
  caf::timespan tick{0};
};

} // namespace parley::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::join_event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::join_verdict)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::publish_event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::publish_verdict)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::leave_event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::tick_event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(parley::actors::room_effects)
