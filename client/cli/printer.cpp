#include "cli/printer.hpp"

#include "parley/proto/codec.hpp"

#include <cinttypes>

namespace parley::cli {

namespace {

std::string join_names(const google::protobuf::RepeatedPtrField<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty())
      out += ", ";
    out += printable(n);
  }
  return out;
}

const char* left_reason(v1::LeftReason r) {
  switch (r) {
    case v1::LEFT_REASON_REQUESTED:
      return "left";
    case v1::LEFT_REASON_ROOM_RESTARTED:
      return "room restarted";
    case v1::LEFT_REASON_ROOM_STOPPED:
      return "room stopped";
    case v1::LEFT_REASON_REMOVED:
      return "removed";
    default:
      return "left";
  }
}

} // namespace

std::string printable(const std::string& text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    // C1 controls (U+0080..U+009F) are 0xC2 0x80..0x9F in UTF-8; some
    // terminals act on them like ESC [.
    if (c == 0xC2 && i + 1 < text.size()) {
      auto next = static_cast<unsigned char>(text[i + 1]);
      if (next >= 0x80 && next <= 0x9F) {
        out += "\\u00";
        out += hex[next >> 4];
        out += hex[next & 0xF];
        ++i;
        continue;
      }
    }
    if (c >= 0x20 && c != 0x7F && c != '\\') {
      out += static_cast<char>(c);
      continue;
    }
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\x";
        out += hex[c >> 4];
        out += hex[c & 0xF];
    }
  }
  return out;
}

printer::printer(bool pretty, std::FILE* out) : pretty_(pretty), out_(out) {
  // nop
}

void printer::print(const v1::ServerFrame& frame, std::optional<double> rtt_ms) {
  if (pretty_)
    pretty(frame, rtt_ms);
  else
    line(proto::encode(frame, proto::encoding::json));
}

void printer::line(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fputc('\n', out_);
  std::fflush(out_);
}

void printer::message(const v1::Message& msg) {
  auto text = printable(msg.room()) + " #" + std::to_string(msg.seq()) + " <"
              + printable(msg.sender()) + "> " + printable(msg.text());
  if (!msg.body().empty())
    text += " [body: " + std::to_string(msg.body().size()) + " bytes]";
  line(text);
}

void printer::pretty(const v1::ServerFrame& frame, std::optional<double> rtt_ms) {
  switch (frame.kind_case()) {
    case v1::ServerFrame::kMessage:
      message(frame.message());
      return;
    case v1::ServerFrame::kPresence: {
      const auto& p = frame.presence();
      auto text = printable(p.room());
      for (const auto& u : p.joined())
        text += " +" + printable(u);
      for (const auto& u : p.left())
        text += " -" + printable(u);
      line(text);
      return;
    }
    case v1::ServerFrame::kLeft: {
      const auto& l = frame.left();
      auto text = printable(l.room()) + ": " + left_reason(l.reason());
      if (!l.detail().empty())
        text += " (" + printable(l.detail()) + ")";
      line(text);
      return;
    }
    case v1::ServerFrame::kError:
      line("error " + v1::ErrorCode_Name(frame.error().code()) + ": "
           + printable(frame.error().reason()));
      return;
    case v1::ServerFrame::kAck:
      break;
    default:
      line(proto::encode(frame, proto::encoding::json));
      return;
  }
  const auto& ack = frame.ack();
  switch (ack.reply_case()) {
    case v1::Ack::kWelcome: {
      const auto& w = ack.welcome();
      const auto& l = w.limits();
      line("welcome to " + printable(w.node()) + ", session " + printable(w.session_id())
           + " (frames up to " + std::to_string(l.max_frame_bytes()) + " bytes, text up to "
           + std::to_string(l.max_text_bytes()) + ", backlog " + std::to_string(l.backlog())
           + ", " + std::to_string(l.publish_per_second()) + " requests/s, burst "
           + std::to_string(l.publish_burst()) + ")");
      return;
    }
    case v1::Ack::kJoined: {
      const auto& j = ack.joined();
      line("joined " + printable(j.room()) + " at #" + std::to_string(j.seq()) + ", "
           + std::to_string(j.member_count()) + " member" + (j.member_count() == 1 ? "" : "s")
           + (j.members().empty() ? "" : ": " + join_names(j.members())));
      if (j.gap())
        line(printable(j.room()) + ": gap: some messages are no longer held");
      if (j.more() && j.messages_size() > 0)
        line(printable(j.room()) + ": more: the messages before #"
             + std::to_string(j.messages(0).seq()) + " did not fit in one reply");
      for (const auto& m : j.messages())
        message(m);
      return;
    }
    case v1::Ack::kPublished:
      line(printable(ack.published().room()) + " #" + std::to_string(ack.published().seq()));
      return;
    case v1::Ack::kRooms: {
      if (ack.rooms().rooms().empty()) {
        line("no open rooms");
        return;
      }
      for (const auto& r : ack.rooms().rooms()) {
        auto text = printable(r.name()) + " " + std::to_string(r.member_count()) + " member"
                    + (r.member_count() == 1 ? "" : "s");
        if (r.last_seq() > 0)
          text += ", last #" + std::to_string(r.last_seq());
        line(text);
      }
      return;
    }
    case v1::Ack::kPong: {
      char buf[64];
      if (rtt_ms) {
        std::snprintf(buf, sizeof(buf), "pong in %.2f ms", *rtt_ms);
        line(buf);
      } else {
        line("pong");
      }
      return;
    }
    case v1::Ack::kLeft:
      line(printable(ack.left().room()) + ": " + left_reason(ack.left().reason()));
      return;
    case v1::Ack::kPresence:
      line(printable(ack.presence().room()) + " members: " + join_names(ack.presence().members()));
      return;
    default:
      line(proto::encode(frame, proto::encoding::json));
      return;
  }
}

} // namespace parley::cli
