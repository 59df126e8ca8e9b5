// parley-cli: a command-line client for a Parley gateway, for operators and
// for the docs (docs/cli.md). Speaks JSON text frames or, with --binary,
// protobuf binary frames; prints one JSON object per line (the ServerFrame's
// JSON mapping, so `jq` works) or, with --pretty, lines for people.
//
// Exit status: 0 done; 1 the server refused a request (error frame) or the
// connection failed; 2 a usage error (bad flag, URL, room or value).

#include "cli/printer.hpp"
#include "parley/client/session.hpp"
#include "parley/client/ws_url.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <unistd.h>

using namespace parley;
using namespace std::chrono_literals;
namespace v1 = parley::v1;

namespace {

constexpr int failure_status = 1;
/// As runtime::usage_error_status; not linked from parley_runtime, which
/// would bring CAF into a client that has no use for it.
constexpr int usage_error_status = 2;

constexpr const char* program = "parley-cli";
constexpr const char* default_url = "ws://127.0.0.1:8080/ws";

/// While waiting for stdin, the socket is read this often, so the server's
/// keep-alive pings get their pongs: Beast answers a ping only while a read
/// is pending. The gateway's idle timeout is 300 s by default, 1 s at least.
constexpr auto stdin_pump_interval = 500ms;

/// Tail waits for live frames in slices this long (there is no deadline).
constexpr auto tail_slice = std::chrono::hours(1);

/// Rejoining a restarted room: attempts, and the pause between them.
constexpr int rejoin_attempts = 5;
constexpr auto rejoin_pause = 200ms;

struct options {
  std::string url = default_url;
  bool binary = false;
  bool pretty = false;
  std::string user;
  double timeout_s = 10;
  std::string room;
  uint64_t since = 0;
  bool has_since = false;
  uint64_t count = 0; // 0: no limit
  std::vector<std::string> text;
};

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

// -- one connection: connect, hello ------------------------------------------------

class client_run {
public:
  /// `keep_unsolicited`: keep messages that arrive while a request waits
  /// (tail shows them; the other subcommands drop them).
  client_run(const options& opt, const client::ws_url& url, bool keep_unsolicited)
    : opt_(opt), url_(url), out_(opt.pretty), session_(make_options(opt, keep_unsolicited)) {
    // nop
  }

  /// Connects and says hello; nothing on success, else the exit status.
  std::optional<int> start() {
    if (!session_.connect(url_))
      return fail(session_.error());
    auto r = session_.hello(opt_.user);
    if (!r.ok())
      return fail("hello", r);
    welcome_ = *r.frame;
    return std::nullopt;
  }

  /// Joins `room`; nothing on success (the ack in `joined`), else the exit status.
  std::optional<int> join(const std::string& room, std::optional<uint64_t> since,
                          v1::ServerFrame& joined) {
    auto r = session_.join(room, since);
    if (!r.ok())
      return fail("join " + room, r);
    joined = *r.frame;
    return std::nullopt;
  }

  /// Closes cleanly; the close is best effort (the work is done).
  int finish(int status = 0) {
    session_.close(1000, "bye");
    return status;
  }

  client::session& session() {
    return session_;
  }

  cli::printer& out() {
    return out_;
  }

  const v1::ServerFrame& welcome() const {
    return welcome_;
  }

private:
  static client::session_options make_options(const options& opt, bool keep_unsolicited) {
    client::session_options so;
    so.enc = opt.binary ? proto::encoding::binary : proto::encoding::json;
    so.timeout = std::chrono::milliseconds{static_cast<int64_t>(opt.timeout_s * 1000)};
    so.client_name = program;
    so.client_version = "0.1";
    if (!keep_unsolicited)
      so.max_pending = 0;
    return so;
  }

  const options& opt_;
  client::ws_url url_;
  cli::printer out_;
  client::session session_;
  v1::ServerFrame welcome_;
};

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

// -- the command line --------------------------------------------------------------

/// Parses like runtime::parse_command_line: --help and --version print and
/// exit 0; anything wrong prints one line and exits 2.
std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    // CLI11 calls `parley-cli frobnicate` a missing subcommand; name it.
    if (app.get_subcommands().empty() && !app.remaining().empty())
      what = "unknown subcommand '" + app.remaining().front()
             + "' (expected connect, rooms, ping, join, publish or tail)";
    std::replace(what.begin(), what.end(), '\n', ' ');
    std::fprintf(stderr, "%s: error: %s (see --help)\n", program, what.c_str());
    return usage_error_status;
  }
  return std::nullopt;
}

const CLI::Validator url_check{[](std::string& text) {
                                 std::string why;
                                 return client::parse_ws_url(text, why) ? std::string{} : why;
                               },
                               "URL"};

// The server owns the naming rules (they are configurable); refuse here only
// what can never be a room.
const CLI::Validator room_check{[](std::string& room) {
                                  if (room.empty())
                                    return std::string{"the room name is empty"};
                                  if (!valid_utf8(room))
                                    return std::string{"the room name is not valid UTF-8"};
                                  return std::string{};
                                },
                                "ROOM"};

const CLI::Validator text_check{[](std::string& text) {
                                  return valid_utf8(text) ? std::string{}
                                                          : std::string{"not valid UTF-8"};
                                },
                                ""};

// CLI11 2.1 turns "-1" into 2^64-1 and saturates on overflow for an
// unsigned option: check the text first.
std::string check_whole_number(const std::string& text) {
  if (text.empty()
      || !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }))
    return "'" + text + "' is not a whole number";
  errno = 0;
  std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE)
    return "'" + text + "' is too large";
  return {};
}

const CLI::Validator whole_number{[](std::string& text) { return check_whole_number(text); },
                                  "N"};

void add_room(CLI::App& sub, options& opt) {
  sub.add_option("room", opt.room, "The room")->required()->check(room_check);
}

void add_since(CLI::App& sub, options& opt) {
  sub.add_option("--since", opt.since, "Start after this seq (resume), not with the backlog")
    ->check(whole_number)
    ->each([&opt](const std::string&) { opt.has_since = true; });
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Parley command-line client: talk to a gateway from a shell (docs/cli.md).",
               program};
  app.set_version_flag("--version", std::string{program} + " 0.1.0");
  app.require_subcommand(1);
  // Global options work after the subcommand too: `parley-cli join lobby --pretty`.
  app.fallthrough();
  options opt;
  app.add_option("--url", opt.url, "The gateway's WebSocket URL, ws://host[:port][/path]")
    ->envname("PARLEY_URL")
    ->check(url_check)
    ->capture_default_str();
  app.add_flag("--binary", opt.binary,
               "Send protobuf in binary frames (default: JSON in text frames); the output "
               "is the same");
  app.add_flag("--pretty", opt.pretty, "Short lines for people instead of JSON");
  app.add_option("--user", opt.user, "Display name to say hello with (default: guest-N)")
    ->envname("PARLEY_USER");
  app.add_option("--timeout", opt.timeout_s, "Seconds to wait for each reply")
    ->check(CLI::Range(0.001, 3600.0))
    ->capture_default_str();

  auto* connect = app.add_subcommand("connect", "Say hello and print the welcome");
  auto* rooms = app.add_subcommand("rooms", "List the rooms open on the node");
  auto* ping = app.add_subcommand("ping", "Ping the server; --pretty shows the round trip");
  auto* join = app.add_subcommand("join", "Join a room, print its backlog (or what came "
                                          "after --since) and members, and exit");
  add_room(*join, opt);
  add_since(*join, opt);
  auto* publish = app.add_subcommand(
    "publish", "Publish TEXT (words joined by spaces), or each line of stdin when TEXT is -; "
               "prints each message's seq");
  add_room(*publish, opt);
  publish->add_option("text", opt.text, "The message, or - for stdin")
    ->required()
    ->expected(1, std::numeric_limits<int>::max())
    ->check(text_check);
  auto* tail = app.add_subcommand(
    "tail", "Join a room and print its backlog and live frames until SIGINT/SIGTERM or --count");
  add_room(*tail, opt);
  add_since(*tail, opt);
  tail->add_option("--count", opt.count, "Exit after this many live messages (0: never)")
    ->check(whole_number)
    ->capture_default_str();

  if (auto status = parse(app, argc, argv))
    return *status;

  std::string why;
  auto url = client::parse_ws_url(opt.url, why);
  if (!url) { // PARLEY_URL is checked too, but be sure
    std::fprintf(stderr, "%s: error: %s\n", program, why.c_str());
    return usage_error_status;
  }
  client_run run{opt, *url, tail->parsed()};
  if (connect->parsed())
    return run_connect(run);
  if (rooms->parsed())
    return run_rooms(run);
  if (ping->parsed())
    return run_ping(run);
  if (join->parsed())
    return run_join(run, opt);
  if (publish->parsed())
    return run_publish(run, opt);
  if (tail->parsed())
    return run_tail(run, opt);
  return usage_error_status;
}
