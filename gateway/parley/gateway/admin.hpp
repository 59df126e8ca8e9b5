#pragma once

/// @file
/// The admin console's settings and its seam to the actors: the operator's
/// tokens, who may reach the console, and `admin_backend`, the questions and
/// actions that need the actor system (rooms, the supervisor tree, closing a
/// room, a notice, a drain). Neither Beast nor CAF here: the listener
/// (Beast) serves the console, admin_backend.cpp (CAF) answers for the
/// actors.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace parley::gateway {

/// One operator's credential: the console is used with
/// `Authorization: Bearer <secret>`, and every action is logged with `name`.
struct admin_token {
  std::string name;
  std::string secret;
};

/// Reads `--admin-token-file`: one token per line, `NAME:SECRET` (or a bare
/// SECRET, named "admin"); blank lines and `#` comments are skipped. Each
/// secret has 32 characters or more, names are 1 to 32 letters, digits,
/// `-`, `_` or `.`, both unique. One line naming the file (and the line) on
/// failure.
std::variant<std::vector<admin_token>, std::string> load_admin_tokens(const std::string& path);

/// The secret of the token among `tokens` that `authorization` (the header's
/// value) carries, compared in constant time; nothing if none matches.
const admin_token* find_admin_token(const std::vector<admin_token>& tokens,
                                    std::string_view authorization);

/// A network in CIDR form (`127.0.0.0/8`, `10.1.2.3`, `::1/128`).
struct address_range {
  std::vector<uint8_t> bytes; ///< 4 (IPv4) or 16 (IPv6)
  unsigned prefix = 0;

  /// Parses; empty with `why` set when `text` is not one.
  static std::optional<address_range> parse(std::string_view text, std::string& why);

  /// Whether `address` (text, as the listener reads a peer) is in it. An
  /// IPv4-mapped IPv6 address counts as its IPv4 address.
  bool contains(std::string_view address) const;
};

/// How the console answers: a status and a JSON body.
struct admin_result {
  int status = 200;
  std::string json;
};

using admin_callback = std::function<void(admin_result)>;

/// What the console asks of the actor side. Each call answers through its
/// callback exactly once, on any thread, within a few seconds (503 when the
/// actors do not answer). Thread-safe.
class admin_backend {
public:
  virtual ~admin_backend() = default;

  /// {"rooms": [{"name", "members", "seq", "backlog"}...]} of this node.
  virtual void rooms(admin_callback cb) = 0;

  /// The supervisor tree: {"id", "strategy", "restarts", "children": [...]}.
  virtual void tree(admin_callback cb) = 0;

  /// {"members": [...], "self": ...} in a cluster, {"cluster": false} alone.
  virtual void cluster(admin_callback cb) = 0;

  /// Stops the room: its members get `left` (ROOM_STOPPED); 404 if this
  /// node does not run it. `who` is the operator, for the log.
  virtual void close_room(const std::string& room, const std::string& who, admin_callback cb) = 0;

  /// Sends `text` to the room as a message from "@`who`"; 404 if this node
  /// does not run it.
  virtual void notice(const std::string& room, const std::string& text, const std::string& who,
                      admin_callback cb) = 0;

  /// Starts a drain of the whole node, as SIGTERM does.
  virtual void drain(const std::string& who) = 0;
};

/// Where the console listens and who may use it.
struct admin_config {
  /// Loopback by default: the console is for operators on the machine (or
  /// through an SSH tunnel).
  std::string address = "127.0.0.1";
  /// No console without a port (0: any free port, for tests).
  std::optional<uint16_t> port;
  std::vector<admin_token> tokens;
  /// Peers that may connect at all; others get 403 before their token is
  /// looked at.
  std::vector<address_range> allow;
  /// Keep `/metrics` on the public port too (it moved to the console).
  bool public_metrics = false;
  /// For `/status` (run() fills them from parley/version.hpp).
  std::string node;
  std::string version;
  std::string commit;
  std::string build_type;
  std::shared_ptr<admin_backend> backend;
};

} // namespace parley::gateway
