#pragma once

/// @file
/// A fixture for testing a custom room behaviour through a real room actor
/// on the deterministic scheduler: start a room with a rule, add members
/// that record what they receive, join, publish, and read back the chat
/// messages each member saw.

#include "parley/actors/room.hpp"
#include "parley/runtime/errc.hpp"
#include "support/actor_test.hpp"
#include "support/chat_probe.hpp"

#include <caf/exit_reason.hpp>

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace parley::test {

/// A room member recording every frame the room writes to it.
using behavior_member = member_probe;

class behavior_room_test : public actor_test {
protected:
  actors::room_actor room;
  std::shared_ptr<actors::room_memory> memory = std::make_shared<actors::room_memory>();
  std::deque<behavior_member> members; // stable references

  /// Starts the room `name` with `rule`, as the rooms directory would.
  actors::room_actor start(actors::room_behavior_rule rule, std::string name = "test:room",
                           actors::room_config cfg = {}) {
    cfg.backlog = 1000;
    auto result = sys.spawn(actors::room_impl, std::move(name), cfg,
                            std::make_shared<actors::room_memory>(), std::move(rule));
    rooms_.push_back(result);
    if (!room)
      room = result;
    run();
    return result;
  }

  behavior_member& add_member(std::string user) {
    members.push_back(make_probe(sys, std::move(user)));
    return members.back();
  }

  /// Adds a member called `user` and joins it to `in` (default: `room`).
  behavior_member& join_new(std::string user, actors::room_actor in = {}) {
    auto& m = add_member(std::move(user));
    auto reply = join(m, in);
    EXPECT_TRUE(reply) << m.user << ": " << render(reply.error());
    return m;
  }

  caf::expected<actors::join_reply> join(const behavior_member& m, actors::room_actor in = {}) {
    return ask<actors::join_reply>(in ? in : room, actors::join_atom::value,
                                   m.join_request());
  }

  caf::expected<actors::seq_t> publish(const behavior_member& m, std::string text,
                                       actors::room_actor in = {}) {
    return ask<actors::seq_t>(in ? in : room, actors::publish_atom::value,
                              actors::publish_request{m.id(), std::move(text), {}});
  }

  bool leave(const behavior_member& m, actors::room_actor in = {}) {
    auto res = ask<bool>(in ? in : room, actors::leave_atom::value, m.id());
    return res && *res;
  }

  /// Everything the room published so far, oldest first.
  std::vector<actors::chat_message> published(actors::room_actor in = {}) {
    auto res = ask<actors::history_reply>(in ? in : room, actors::history_atom::value,
                                          actors::history_request{0, 0, 1000});
    EXPECT_TRUE(res);
    return res ? res->messages : std::vector<actors::chat_message>{};
  }

  /// The reason a behaviour gave when it refused (empty if `err` is not a
  /// refusal).
  static std::string refusal(const caf::error& err) {
    if (!runtime::is(err, runtime::errc::refused))
      return {};
    auto& ctx = err.context();
    return ctx.match_element<std::string>(0) ? ctx.get_as<std::string>(0) : std::string{};
  }

  void TearDown() override {
    for (auto& m : members)
      self->send_exit(m.handle, caf::exit_reason::user_shutdown);
    for (auto& r : rooms_)
      self->send_exit(r, caf::exit_reason::user_shutdown);
    run();
  }

private:
  std::vector<actors::room_actor> rooms_;
};

} // namespace parley::test
