#include "parley/actors/chat.hpp"

#include <chrono>

namespace parley::actors {

shared_frame shared_frame::make(const v1::ServerFrame& frame, bool want_binary, bool want_json) {
  shared_frame result;
  if (want_binary)
    result.binary = std::make_shared<const std::string>(proto::encode(frame, encoding::binary));
  if (want_json)
    result.json = std::make_shared<const std::string>(proto::encode(frame, encoding::json));
  return result;
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
