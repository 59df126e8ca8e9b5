#pragma once

/// @file
/// A room member for tests: an actor that stands for the member (the room
/// monitors it; ending it ends the membership) and a `test_sink` that
/// records every frame the room writes for it.

#include "parley/actors/chat.hpp"
#include "support/test_sink.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <memory>
#include <string>
#include <vector>

namespace parley::test {

/// Does nothing but exist until it is told to exit. (It takes the user's
/// name only because CAF 0.17 spawns a function without arguments through
/// a null `shared_ptr<tuple<>>`, which UBSan reports.)
inline caf::behavior standing_member(caf::event_based_actor*, std::string) {
  return {[](int) {}};
}

struct member_probe {
  caf::actor handle;
  std::shared_ptr<test_sink> sink;
  std::string user;
  proto::encoding enc = proto::encoding::json;
  /// Frames drained from the sink so far, oldest first.
  std::shared_ptr<std::vector<v1::ServerFrame>> seen = std::make_shared<std::vector<v1::ServerFrame>>();

  actors::member_id id() const {
    return handle.address();
  }

  /// Every frame the room wrote so far (draining the sink).
  const std::vector<v1::ServerFrame>& frames() const {
    for (auto& f : sink->drain())
      seen->push_back(std::move(f));
    return *seen;
  }

  /// Forgets the frames received so far.
  void forget() const {
    frames();
    seen->clear();
  }

  /// The chat messages received, in order.
  std::vector<v1::Message> messages() const {
    std::vector<v1::Message> result;
    for (auto& f : frames())
      if (f.has_message())
        result.push_back(f.message());
    return result;
  }

  /// The seqs of the chat messages received, in order.
  std::vector<actors::seq_t> seqs() const {
    std::vector<actors::seq_t> result;
    for (auto& m : messages())
      result.push_back(m.seq());
    return result;
  }

  std::vector<v1::Presence> presence() const {
    std::vector<v1::Presence> result;
    for (auto& f : frames())
      if (f.has_presence())
        result.push_back(f.presence());
    return result;
  }

  /// A join request for this member (its sink, its encoding).
  actors::join_request join_request(std::optional<actors::seq_t> since = {},
                                    std::string ref = "j") const {
    return actors::join_request{id(), user, enc, since, {}, sink, std::move(ref)};
  }
};

/// A member called `user` that reads in `enc`; `lim` bounds its sink.
inline member_probe make_probe(caf::actor_system& sys, std::string user,
                               proto::encoding enc = proto::encoding::json,
                               gateway::outbound_queue::limits lim = {}) {
  member_probe p;
  p.handle = sys.spawn(standing_member, user);
  p.sink = std::make_shared<test_sink>(enc, lim);
  p.user = std::move(user);
  p.enc = enc;
  return p;
}

} // namespace parley::test
