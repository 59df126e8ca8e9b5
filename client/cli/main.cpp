// parley-cli: a command-line client for a Parley gateway, for operators and
// for the docs (docs/cli.md). Speaks JSON text frames or, with --binary,
// protobuf binary frames; prints one JSON object per line (the ServerFrame's
// JSON mapping, so `jq` works) or, with --pretty, lines for people.
//
// Exit status: 0 done; 1 the server refused a request (error frame) or the
// connection failed; 2 a usage error (bad flag, URL, room or value).

#include "cli/admin.hpp"
#include "cli/commands.hpp"
#include "parley/version.hpp"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <string>

using namespace parley;
using namespace parley::cli;
namespace v1 = parley::v1;

namespace {

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
             + "' (expected connect, rooms, ping, join, publish, tail or admin)";
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
  app.set_version_flag("--version", parley::version_text(program),
                       "Print the version, git commit and build type, and exit");
  app.require_subcommand(1);
  // Global options work after the subcommand too: `parley-cli join lobby --pretty`.
  app.fallthrough();
  options opt;
  app.add_option("--url", opt.url,
                 "The gateway's WebSocket URL, ws://host[:port][/path], or wss://... for TLS")
    ->envname("PARLEY_URL")
    ->check(url_check)
    ->capture_default_str();
  app.add_flag("--binary", opt.binary,
               "Send protobuf in binary frames (default: JSON in text frames); the output "
               "is the same");
  app.add_flag("--pretty", opt.pretty, "Short lines for people instead of JSON");
  app.add_option("--user", opt.user,
                 "Name to say hello with, without a token (a guest's shows as ~NAME)")
    ->envname("PARLEY_USER");
  app.add_option("--token", opt.token,
                 "JSON Web Token to say hello with; its sub is your name. Prefer the "
                 "variable: a flag shows in the process list")
    ->envname("PARLEY_TOKEN");
  app.add_option("--ca-file", opt.ca_file,
                 "wss://: PEM certificate of the authority that signed the gateway's "
                 "(default: the system's trusted ones)")
    ->envname("PARLEY_CA_FILE")
    ->check(CLI::ExistingFile);
  app.add_flag("--insecure", opt.insecure,
               "wss://: accept any certificate (development only: anyone on the path can "
               "read and change the traffic)");
  app.add_option("--timeout", opt.timeout_s, "Seconds to wait for each reply")
    ->check(CLI::Range(0.001, 3600.0))
    ->capture_default_str();

  admin_options admin_opt;
  auto* admin = app.add_subcommand(
    "admin", "The gateway's admin console: admin status|connections|rooms|tree|cluster|metrics, "
             "admin kick ID [REASON], admin close-room ROOM, admin notice ROOM TEXT, "
             "admin log-level LEVEL, admin drain");
  admin->add_option("action", admin_opt.action, "What to do")->required();
  admin->add_option("args", admin_opt.args, "Its arguments");
  admin->add_option("--admin-url", admin_opt.url, "The console, http://HOST:PORT")
    ->envname("PARLEY_ADMIN_URL")
    ->check(CLI::Validator([](std::string& v) { return check_admin_url(v); }, "URL"))
    ->capture_default_str();
  admin->add_option("--admin-token-file", admin_opt.token_file,
                    "File holding the operator's token (NAME:SECRET); or set PARLEY_ADMIN_TOKEN");
  if (const char* t = std::getenv("PARLEY_ADMIN_TOKEN"))
    admin_opt.token = t;

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

  if (admin->parsed()) {
    admin_opt.timeout_s = opt.timeout_s;
    return run_admin(admin_opt);
  }
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

