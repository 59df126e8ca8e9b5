#include "parley/actors/chat.hpp"

#include "parley/actors/rooms_directory.hpp"

#include <caf/actor_system_config.hpp>

#include <chrono>

namespace parley::actors {

const std::shared_ptr<const std::string>& fanout_frame::bytes(encoding enc) {
  auto& slot = cache_[enc == encoding::binary ? 0 : 1];
  if (!slot && frame_)
    slot = std::make_shared<const std::string>(proto::encode(*frame_, enc));
  return slot;
}

std::shared_ptr<const std::string> encode_joined(const std::string& ref, const join_reply& r,
                                                 encoding enc) {
  // A join reply lists up to 1,000 members, and a protobuf repeated string
  // allocates each element: one Joined per thread is reused, as Clear()
  // keeps the elements for the next reply (the frame only borrows it).
  thread_local v1::Joined scratch;
  auto* j = &scratch;
  j->Clear();
  j->set_room(r.room);
  j->set_member_count(r.member_count);
  j->set_seq(r.seq);
  j->set_gap(r.gap);
  j->set_more(r.more);
  for (auto& m : r.messages)
    to_proto(m, *j->add_messages());
  for (auto& u : r.members)
    j->add_members(u);
  v1::ServerFrame frame;
  frame.set_ref(ref);
  frame.mutable_ack()->unsafe_arena_set_allocated_joined(j);
  struct give_back { // even if encoding throws
    v1::Ack* ack;
    ~give_back() {
      ack->unsafe_arena_release_joined();
    }
  } borrowed{frame.mutable_ack()};
  return std::make_shared<const std::string>(proto::encode(frame, enc));
}

void announce_chat(caf::actor_system_config& cfg) {
  cfg.add_message_type<chat_message>("parley.chat_message");
  cfg.add_message_type<std::vector<chat_message>>("parley.chat_message_list");
  cfg.add_message_type<relay_frame>("parley.relay_frame");
  cfg.add_message_type<join_request>("parley.join_request");
  cfg.add_message_type<join_reply>("parley.join_reply");
  cfg.add_message_type<publish_request>("parley.publish_request");
  cfg.add_message_type<history_request>("parley.history_request");
  cfg.add_message_type<history_reply>("parley.history_reply");
  cfg.add_message_type<room_summary>("parley.room_summary");
  cfg.add_message_type<room_seed>("parley.room_seed");
  cfg.add_message_type<std::vector<room_summary>>("parley.room_summary_list");
  cfg.add_message_type<relay_sink>("parley.relay_sink");
  cfg.add_message_type<room_actor>("parley.room_actor");
  cfg.add_message_type<rooms_actor>("parley.rooms_actor");
}

void from_proto(const v1::Message& in, chat_message& x) {
  x.room = in.room();
  x.seq = in.seq();
  x.sender = in.sender();
  x.text = in.text();
  x.body = in.body();
  x.server_time_ms = in.server_time_ms();
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void to_proto(const chat_message& x, v1::Message& out) {
  out.set_room(x.room);
  out.set_seq(x.seq);
  out.set_sender(x.sender);
  out.set_text(x.text);
  out.set_body(x.body);
  out.set_server_time_ms(x.server_time_ms);
}

} // namespace parley::actors
