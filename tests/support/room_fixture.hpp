#pragma once

/// @file
/// A room under CAF's test coordinator with member probes (chat_probe.hpp):
/// the fixture of room_test.cpp and room_fanout_test.cpp.

#include "parley/actors/room.hpp"
#include "support/actor_test.hpp"
#include "support/chat_probe.hpp"

#include <caf/exit_reason.hpp>

#include <deque>

namespace parley::test {

using namespace parley::actors;
using parley::gateway::outbound_queue;

class RoomTest : public actor_test {
protected:
  room_actor room;
  std::shared_ptr<room_memory> memory = std::make_shared<room_memory>();
  std::deque<member_probe> members; // stable references

  /// Presence diffs are immediate here unless a test asks for batching.
  static room_config immediate() {
    room_config cfg;
    cfg.presence_interval = caf::timespan{0};
    return cfg;
  }

  void start(room_config cfg = immediate(), room_behavior_rule rule = {}) {
    room = sys.spawn(room_impl, std::string{"lobby"}, cfg, memory, rule);
    self->monitor(room);
    run();
  }

  member_probe& add_member(std::string user, encoding enc = encoding::json,
                           outbound_queue::limits lim = {}) {
    members.push_back(make_probe(sys, std::move(user), enc, lim));
    return members.back();
  }

  /// Joins as a connection does: the room writes the member's frames into
  /// its sink, the join reply first.
  caf::expected<join_reply> join(const member_probe& m, std::optional<seq_t> since = {}) {
    return ask<join_reply>(room, join_atom::value, m.join_request(since));
  }

  /// Joins through `relay`, as a member on another node does.
  caf::expected<join_reply> join_via(const member_probe& m, const relay_sink& relay) {
    auto req = m.join_request();
    req.via = relay;
    return ask<join_reply>(room, join_atom::value, std::move(req));
  }

  caf::expected<seq_t> publish(const member_probe& m, std::string text) {
    return ask<seq_t>(room, publish_atom::value, publish_request{m.id(), std::move(text), {}});
  }

  std::vector<seq_t> seqs_of(const std::vector<chat_message>& msgs) {
    std::vector<seq_t> result;
    for (auto& m : msgs)
      result.push_back(m.seq);
    return result;
  }

  void TearDown() override {
    for (auto& m : members)
      self->send_exit(m.handle, caf::exit_reason::user_shutdown);
    if (room)
      self->send_exit(room, caf::exit_reason::user_shutdown);
    run();
  }
};

using seqs = std::vector<seq_t>;

} // namespace parley::test
