#include "cli/commands.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <thread>

#include <poll.h>
#include <unistd.h>

namespace parley::cli {

namespace v1 = parley::v1;

// -- errors: one line on stderr, then the exit status ----------------------------

int fail(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program, cli::printable(what).c_str());
  return failure_status;
}

/// Reports a request that was not acknowledged.
int fail(const std::string& request, const client::reply& r) {
  if (r.refused())
    return fail(request + ": " + v1::ErrorCode_Name(r.frame->error().code()) + ": "
                + r.frame->error().reason());
  if (r.frame)
    return fail(request + ": unexpected reply " + r.frame->ShortDebugString());
  return fail(r.failure);
}

/// Protobuf refuses strings that are not UTF-8; say so before sending.
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size())
      return false;
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF.
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}


// -- subcommands -------------------------------------------------------------------

int run_connect(client_run& run) {
  if (auto status = run.start())
    return *status;
  run.out().print(run.welcome());
  return run.finish();
}

int run_rooms(client_run& run) {
  if (auto status = run.start())
    return *status;
  auto r = run.session().rooms();
  if (!r.ok())
    return fail("rooms", r);
  run.out().print(*r.frame);
  return run.finish();
}

int run_ping(client_run& run) {
  if (auto status = run.start())
    return *status;
  auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
  };
  auto start = std::chrono::steady_clock::now();
  auto r = run.session().ping(static_cast<uint64_t>(now_ms()));
  std::chrono::duration<double, std::milli> rtt = std::chrono::steady_clock::now() - start;
  if (!r.ok())
    return fail("ping", r);
  run.out().print(*r.frame, rtt.count());
  return run.finish();
}

int run_join(client_run& run, const options& opt) {
  if (auto status = run.start())
    return *status;
  v1::ServerFrame joined;
  std::optional<uint64_t> since;
  if (opt.has_since)
    since = opt.since;
  if (auto status = run.join(opt.room, since, joined))
    return *status;
  run.out().print(joined);
  return run.finish();
}

/// Publishes one text; nothing on success, else the exit status.
std::optional<int> publish_one(client_run& run, const std::string& room,
                               const std::string& text) {
  auto r = run.session().publish(room, text);
  if (!r.ok())
    return fail("publish to " + room, r);
  run.out().print(*r.frame);
  return std::nullopt;
}

/// Reads stdin line by line without blocking the socket for long: between
/// lines the session keeps reading, so pings are answered and a server that
/// closes us is noticed.
namespace {

class stdin_lines {
public:
  enum class result { line, end, error };

  result next(std::string& line, client::session& s) {
    for (;;) {
      // Whatever came from the server meanwhile (pings, our own messages,
      // a close) is handled before the next line is sent.
      if (!pump(s))
        return result::error;
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (!line.empty() && line.back() == '\r')
          line.pop_back();
        return result::line;
      }
      if (eof_) {
        if (buf_.empty())
          return result::end;
        line = std::move(buf_);
        buf_.clear();
        return result::line;
      }
      pollfd pfd{STDIN_FILENO, POLLIN, 0};
      auto wait = std::chrono::milliseconds{stdin_pump_interval};
      auto rc = ::poll(&pfd, 1, static_cast<int>(wait.count()));
      if (rc < 0 && errno != EINTR) {
        error_ = "stdin: poll failed";
        return result::error;
      }
      if (rc > 0) {
        char chunk[4096];
        auto got = ::read(STDIN_FILENO, chunk, sizeof(chunk));
        if (got > 0)
          buf_.append(chunk, static_cast<size_t>(got));
        else if (got == 0 || (errno != EINTR && errno != EAGAIN))
          eof_ = true;
        continue;
      }
    }
  }

  const std::string& error() const {
    return error_;
  }

private:
  /// Reads (and drops) what the server sent; false if the connection ended.
  bool pump(client::session& s) {
    v1::ServerFrame frame;
    for (;;) {
      auto st = s.next(0ms, frame);
      if (st == client::read_status::idle)
        return true;
      if (st != client::read_status::message) {
        error_ = s.error();
        return false;
      }
    }
  }

  std::string buf_;
  bool eof_ = false;
  std::string error_;
};

} // namespace

int run_publish(client_run& run, const options& opt) {
  bool from_stdin = opt.text.size() == 1 && opt.text.front() == "-";
  std::string text;
  if (!from_stdin) {
    for (const auto& word : opt.text) {
      if (!text.empty())
        text += ' ';
      text += word;
    }
  }
  if (auto status = run.start())
    return *status;
  v1::ServerFrame joined;
  if (auto status = run.join(opt.room, std::nullopt, joined))
    return *status;
  if (!from_stdin) {
    if (auto status = publish_one(run, opt.room, text))
      return *status;
    return run.finish();
  }
  stdin_lines lines;
  std::string line;
  size_t number = 0;
  for (;;) {
    auto res = lines.next(line, run.session());
    if (res == stdin_lines::result::end)
      break;
    if (res == stdin_lines::result::error)
      return fail(lines.error());
    ++number;
    // An empty message is refused by the server: skip blank lines.
    if (line.empty())
      continue;
    if (!valid_utf8(line))
      return fail("stdin line " + std::to_string(number) + " is not valid UTF-8");
    if (auto status = publish_one(run, opt.room, line))
      return *status;
  }
  return run.finish();
}

int run_tail(client_run& run, const options& opt) {
  // Set before connecting: a signal during any wait ends the tail cleanly.
  run.session().socket().stop_on_signals({SIGINT, SIGTERM});
  if (auto status = run.start()) {
    if (run.session().socket().interrupted())
      return 128 + run.session().socket().interrupted();
    return *status;
  }
  std::optional<uint64_t> since;
  if (opt.has_since)
    since = opt.since;
  v1::ServerFrame joined;
  if (auto status = run.join(opt.room, since, joined)) {
    if (run.session().socket().interrupted())
      return 128 + run.session().socket().interrupted();
    return *status;
  }
  run.out().print(joined);
  uint64_t last_seq = joined.ack().joined().seq();
  uint64_t seen = 0;
  auto counted = [&] { return opt.count > 0 && seen >= opt.count; };
  while (!counted()) {
    v1::ServerFrame frame;
    switch (run.session().next(tail_slice, frame)) {
      case client::read_status::idle:
        continue;
      case client::read_status::interrupted:
        return run.finish();
      case client::read_status::closed:
        return fail(run.session().error());
      case client::read_status::message:
        break;
    }
    if (frame.has_message() && frame.message().room() == opt.room) {
      // After a rejoin, frames queued before it may repeat what the ack held.
      if (frame.message().seq() <= last_seq)
        continue;
      last_seq = frame.message().seq();
      ++seen;
      run.out().print(frame);
      continue;
    }
    if (frame.has_error()) {
      // Not an answer to us (those carry refs): say so, and keep tailing.
      std::fprintf(stderr, "%s: tail %s: %s: %s\n", program, cli::printable(opt.room).c_str(),
                   v1::ErrorCode_Name(frame.error().code()).c_str(),
                   cli::printable(frame.error().reason()).c_str());
      continue;
    }
    run.out().print(frame);
    if (!frame.has_left() || frame.left().room() != opt.room)
      continue;
    if (frame.left().reason() != v1::LEFT_REASON_ROOM_RESTARTED)
      return fail("tail " + opt.room + ": the server removed us from the room ("
                  + v1::LeftReason_Name(frame.left().reason()) + ")");
    // The room restarted after a crash: resume from what we saw last.
    client::reply r;
    for (int attempt = 1; attempt <= rejoin_attempts; ++attempt) {
      r = run.session().join(opt.room, last_seq);
      if (r.ok() || !r.refused() || r.frame->error().code() != v1::ERROR_CODE_UNAVAILABLE)
        break;
      std::this_thread::sleep_for(rejoin_pause * attempt);
    }
    if (!r.ok()) {
      if (run.session().socket().interrupted())
        return run.finish();
      return fail("rejoin " + opt.room, r);
    }
    auto& j = r.frame->ack().joined();
    run.out().print(*r.frame);
    for (const auto& m : j.messages()) {
      last_seq = std::max(last_seq, m.seq());
      ++seen;
    }
  }
  return run.finish();
}


} // namespace parley::cli
