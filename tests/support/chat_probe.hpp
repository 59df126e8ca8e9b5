#pragma once

/// @file
/// A room member for tests: records every frame a room delivers to it.

#include "parley/actors/chat.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <memory>
#include <vector>

namespace parley::test {

using frame_log = std::shared_ptr<std::vector<actors::shared_frame>>;

inline actors::member_actor::behavior_type probe_impl(actors::member_actor::pointer,
                                                      frame_log log) {
  return {[log](actors::deliver_atom, const actors::shared_frame& f) { log->push_back(f); }};
}

/// Decodes a delivered frame in the given encoding.
inline v1::ServerFrame decode(const actors::shared_frame& f, proto::encoding enc) {
  auto& bytes = f.bytes(enc);
  if (!bytes)
    return {};
  auto res = proto::decode_server(*bytes, enc);
  if (auto* frame = std::get_if<v1::ServerFrame>(&res))
    return *frame;
  return {};
}

} // namespace parley::test
