#pragma once

/// @file
/// parley-cli's parts below its command line: the options, the errors (one
/// line on stderr, then the exit status), one connection that says hello,
/// and the subcommands.

#include "cli/printer.hpp"
#include "parley/client/session.hpp"
#include "parley/client/ws_url.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace parley::cli {

using namespace std::chrono_literals;


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
  /// A JSON Web Token for hello (docs/security.md).
  std::string token;
  /// wss://: the authority to trust (empty: the system's), or none.
  std::string ca_file;
  bool insecure = false;
  double timeout_s = 10;
  std::string room;
  uint64_t since = 0;
  bool has_since = false;
  uint64_t count = 0; // 0: no limit
  std::vector<std::string> text;
};


/// Prints "parley-cli: `what`" on stderr; returns the failure status.
int fail(const std::string& what);

/// A refused or failed request, in one line; returns the failure status.
int fail(const std::string& request, const client::reply& r);

/// Whether `s` is valid UTF-8 (the server refuses anything else).
bool valid_utf8(const std::string& s);

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

  printer& out() {
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
    so.token = opt.token;
    so.tls.ca_file = opt.ca_file;
    so.tls.verify = !opt.insecure;
    so.client_version = "0.1";
    if (!keep_unsolicited)
      so.max_pending = 0;
    return so;
  }

  const options& opt_;
  client::ws_url url_;
  printer out_;
  client::session session_;
  v1::ServerFrame welcome_;
};


int run_connect(client_run& run);
int run_rooms(client_run& run);
int run_ping(client_run& run);
int run_join(client_run& run, const options& opt);
int run_publish(client_run& run, const options& opt);
int run_tail(client_run& run, const options& opt);

} // namespace parley::cli
