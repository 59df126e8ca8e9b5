// The admin console of the real gateway binary: its own port, operator
// tokens, an allow-list, and what an operator can see and do to live
// connections and rooms, checked from the other side (a real WebSocket
// client sees the kick, the notice, the closed room). parley-cli admin is
// the operator's client and is run as a process too.
#include "parley/client/session.hpp"
#include "parley/client/ws_client.hpp"
#include "support/gateway_process.hpp"
#include "support/process.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace parley;
using namespace parley::test;
using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const std::string ops_secret = "0123456789abcdef0123456789abcdef-ops";
const std::string eve_secret = "fedcba9876543210fedcba9876543210-eve";

/// A folder for one test's files, removed after it.
struct temp_dir {
  fs::path dir;

  temp_dir() {
    dir = fs::temp_directory_path()
          / ("parley_admin_test_" + std::to_string(::getpid()) + "_"
             + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }

  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  std::string put(const std::string& name, const std::string& text) const {
    auto p = (dir / name).string();
    std::ofstream{p, std::ios::binary} << text;
    return p;
  }
};

/// Two operators, ops and eve.
std::string token_file(const temp_dir& d) {
  return d.put("admin.tokens", "# operators\nops:" + ops_secret + "\n\neve:" + eve_secret + "\n");
}

std::vector<std::string> admin_flags(const temp_dir& d) {
  return {"--admin-port=0", "--admin-token-file=" + token_file(d)};
}

/// One call to the console as `secret`'s operator.
client::http_reply call(uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body = "", const std::string& secret = ops_secret) {
  return client::http_call("127.0.0.1", port, method, target,
                           secret.empty() ? "" : "Bearer " + secret, body);
}

json::value parsed(const client::http_reply& r) {
  json::error_code ec;
  auto v = json::parse(r.body, ec);
  EXPECT_FALSE(ec) << "not JSON: " << r.body;
  return v;
}

client::ws_url ws(uint16_t port) {
  client::ws_url url;
  url.host = "127.0.0.1";
  url.port = port;
  url.target = "/ws";
  return url;
}

/// A guest named `name` in `room`.
std::unique_ptr<client::session> member(uint16_t port, const std::string& name,
                                        const std::string& room) {
  client::session_options so;
  so.timeout = 5s;
  auto s = std::make_unique<client::session>(so);
  EXPECT_TRUE(s->connect(ws(port))) << s->error();
  EXPECT_TRUE(s->hello(name).ok()) << s->error();
  EXPECT_TRUE(s->join(room).ok()) << s->error();
  return s;
}

/// The next unsolicited frame `want` accepts, skipping others (presence).
template <class Pred>
std::optional<v1::ServerFrame> next_where(client::session& s, Pred want) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    v1::ServerFrame f;
    auto st = s.next(1s, f);
    if (st == client::read_status::closed)
      return std::nullopt;
    if (st == client::read_status::message && want(f))
      return f;
  }
  return std::nullopt;
}

} // namespace

TEST(GatewayAdminTest, EveryEndpointWantsAnOperatorToken) {
  temp_dir d;
  gateway_process gw{admin_flags(d), {}, false};
  ASSERT_NE(gw.admin_port(), 0) << gw.log();
  EXPECT_NE(gw.admin_port(), gw.port());
  for (auto target : {"/status", "/connections", "/rooms", "/metrics", "/tree", "/nowhere"}) {
    EXPECT_EQ(call(gw.admin_port(), "GET", target, "", "").status, 401) << target;
    EXPECT_EQ(call(gw.admin_port(), "GET", target, "", ops_secret + "x").status, 401) << target;
    EXPECT_EQ(call(gw.admin_port(), "GET", target, "", ops_secret.substr(1)).status, 401)
      << target;
  }
  // Not Bearer: the secret as a Basic credential is no token either.
  auto basic = client::http_call("127.0.0.1", gw.admin_port(), "GET", "/status",
                                 "Basic " + ops_secret);
  EXPECT_EQ(basic.status, 401);
  EXPECT_NE(basic.body.find("an admin token is required"), std::string::npos) << basic.body;
  EXPECT_EQ(call(gw.admin_port(), "POST", "/drain", "", "").status, 401);
  EXPECT_TRUE(gw.proc().wait_for_count("admin: refused a request from 127.0.0.1", 1, 5s))
    << gw.log();
  // Both operators get in.
  EXPECT_EQ(call(gw.admin_port(), "GET", "/status").status, 200);
  EXPECT_EQ(call(gw.admin_port(), "GET", "/status", "", eve_secret).status, 200);
  // The console is not on the public port, and neither are the metrics
  // without --public-metrics.
  EXPECT_EQ(client::http_get(gw.port(), "/metrics").status, 404);
  EXPECT_EQ(client::http_get(gw.port(), "/status").status, 404);
  EXPECT_EQ(gw.stop(), 0) << gw.log();
}

TEST(GatewayAdminTest, PeersOutsideTheAllowListAreRefusedBeforeTheirToken) {
  temp_dir d;
  auto flags = admin_flags(d);
  flags.push_back("--admin-allow=10.0.0.0/8,::1");
  gateway_process gw{flags, {}, false};
  ASSERT_NE(gw.admin_port(), 0) << gw.log();
  auto r = call(gw.admin_port(), "GET", "/status");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("may not use the admin console"), std::string::npos) << r.body;
  EXPECT_TRUE(gw.proc().wait_for_count(
    "admin: refused a connection from 127.0.0.1, not in --admin-allow", 1, 5s))
    << gw.log();
  // The public side does not care.
  EXPECT_EQ(client::http_get(gw.port(), "/healthz").status, 200);
}

TEST(GatewayAdminTest, StatusMetricsAndTheTree) {
  temp_dir d;
  gateway_process gw{admin_flags(d), {}, false};
  ASSERT_NE(gw.admin_port(), 0) << gw.log();
  auto ann = member(gw.port(), "ann", "lobby");
  auto status = call(gw.admin_port(), "GET", "/status");
  ASSERT_EQ(status.status, 200) << status.body;
  auto s = parsed(status).as_object();
  EXPECT_EQ(s.at("websockets").as_int64(), 1) << status.body;
  EXPECT_EQ(s.at("draining").as_bool(), false);
  EXPECT_EQ(s.at("tls").as_bool(), false);
  EXPECT_FALSE(s.at("version").as_string().empty());
  EXPECT_FALSE(s.at("commit").as_string().empty());
  EXPECT_FALSE(s.at("build_type").as_string().empty());
  auto metrics = call(gw.admin_port(), "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("parley_gateway_websockets 1"), std::string::npos)
    << metrics.body;
  // The tree reaches the room "lobby" under the room supervisor.
  auto tree = call(gw.admin_port(), "GET", "/tree");
  ASSERT_EQ(tree.status, 200) << tree.body;
  auto root = parsed(tree).as_object();
  EXPECT_EQ(root.at("id").as_string(), "root");
  EXPECT_TRUE(root.contains("strategy")) << tree.body;
  EXPECT_NE(tree.body.find("\"id\":\"lobby\""), std::string::npos) << tree.body;
  auto cluster = call(gw.admin_port(), "GET", "/cluster");
  ASSERT_EQ(cluster.status, 200) << cluster.body;
  EXPECT_EQ(parsed(cluster).as_object().at("cluster").as_bool(), false);
}

TEST(GatewayAdminTest, ConnectionsAreListedAndAKickClosesOneWith4000) {
  temp_dir d;
  gateway_process gw{admin_flags(d), {}, false};
  ASSERT_NE(gw.admin_port(), 0) << gw.log();
  auto ann = member(gw.port(), "ann", "lobby");
  auto bob = member(gw.port(), "bob", "kitchen");
  auto list = call(gw.admin_port(), "GET", "/connections");
  ASSERT_EQ(list.status, 200) << list.body;
  std::string ann_id;
  size_t seen = 0;
  auto listed = parsed(list);
  for (auto& c : listed.as_object().at("connections").as_array()) {
    auto& o = c.as_object();
    ++seen;
    EXPECT_EQ(o.at("transport").as_string(), "websocket");
    EXPECT_EQ(o.at("guest").as_bool(), true);
    EXPECT_EQ(o.at("address").as_string(), "127.0.0.1");
    auto& rooms = o.at("rooms").as_array();
    ASSERT_EQ(rooms.size(), 1u) << list.body;
    if (o.at("user").as_string() == "~ann") {
      ann_id = o.at("id").as_string();
      EXPECT_EQ(rooms[0].as_string(), "lobby");
    } else {
      EXPECT_EQ(o.at("user").as_string(), "~bob") << list.body;
      EXPECT_EQ(rooms[0].as_string(), "kitchen");
    }
  }
  EXPECT_EQ(seen, 2u) << list.body;
  ASSERT_FALSE(ann_id.empty()) << list.body;

  auto kick = call(gw.admin_port(), "POST", "/connections/" + ann_id + "/close",
                   R"({"reason":"spam, again"})");
  ASSERT_EQ(kick.status, 200) << kick.body;
  // ann sees the close and why; bob stays.
  EXPECT_FALSE(next_where(*ann, [](auto&) { return false; }));
  EXPECT_EQ(ann->socket().close_code(), 4000);
  EXPECT_EQ(ann->socket().close_reason(), "kicked by an operator: spam, again");
  EXPECT_TRUE(bob->ping().ok());
  EXPECT_TRUE(gw.proc().wait_for_count("admin: ops (127.0.0.1", 1, 5s)) << gw.log();
  EXPECT_NE(gw.log().find("kicks connection " + ann_id + " (~ann from 127.0.0.1): spam, again"),
            std::string::npos)
    << gw.log();
  // Gone from the list as soon as it is kicked; a second kick finds nothing.
  auto after = call(gw.admin_port(), "GET", "/connections");
  EXPECT_EQ(after.body.find("\"id\":\"" + ann_id + "\""), std::string::npos) << after.body;
  EXPECT_NE(after.body.find("~bob"), std::string::npos) << after.body;
  auto again = call(gw.admin_port(), "POST", "/connections/" + ann_id + "/close");
  EXPECT_EQ(again.status, 404) << again.body;
  EXPECT_EQ(call(gw.admin_port(), "POST", "/connections/no-such-id/close").status, 404);
}

TEST(GatewayAdminTest, RoomsNoticesAndClosingARoom) {
  temp_dir d;
  gateway_process gw{admin_flags(d), {}, false};
  ASSERT_NE(gw.admin_port(), 0) << gw.log();
  auto ann = member(gw.port(), "ann", "lobby");
  auto bob = member(gw.port(), "bob", "lobby");
  ASSERT_TRUE(ann->publish("lobby", "one").ok());
  ASSERT_TRUE(ann->publish("lobby", "two").ok());
  auto rooms = call(gw.admin_port(), "GET", "/rooms");
  ASSERT_EQ(rooms.status, 200) << rooms.body;
  bool found = false;
  auto open = parsed(rooms);
  for (auto& r : open.as_object().at("rooms").as_array()) {
    auto& o = r.as_object();
    if (o.at("name").as_string() != "lobby")
      continue;
    found = true;
    EXPECT_EQ(o.at("members").as_int64(), 2);
    EXPECT_EQ(o.at("seq").to_number<int64_t>(), 2);
    EXPECT_EQ(o.at("backlog").to_number<int64_t>(), 2);
  }
  EXPECT_TRUE(found) << rooms.body;

  // A notice is a message of the room from "@ops", in its seq and backlog.
  auto notice = call(gw.admin_port(), "POST", "/rooms/lobby/notice",
                     R"({"text":"maintenance at noon"})");
  ASSERT_EQ(notice.status, 200) << notice.body;
  EXPECT_EQ(parsed(notice).as_object().at("seq").to_number<int64_t>(), 3);
  // (bob has seen ann's two messages first.)
  auto got = next_where(*bob, [](const v1::ServerFrame& f) {
    return f.has_message() && f.message().seq() > 2;
  });
  ASSERT_TRUE(got);
  EXPECT_EQ(got->message().sender(), "@ops");
  EXPECT_EQ(got->message().text(), "maintenance at noon");
  EXPECT_EQ(got->message().seq(), 3u);
  EXPECT_EQ(call(gw.admin_port(), "POST", "/rooms/nowhere/notice", R"({"text":"x"})").status,
            404);

  // Closing the room tells every member.
  auto closed = call(gw.admin_port(), "POST", "/rooms/lobby/close");
  ASSERT_EQ(closed.status, 200) << closed.body;
  for (auto* s : {ann.get(), bob.get()}) {
    auto left = next_where(*s, [](const v1::ServerFrame& f) { return f.has_left(); });
    ASSERT_TRUE(left);
    EXPECT_EQ(left->left().room(), "lobby");
    EXPECT_EQ(left->left().reason(), v1::LEFT_REASON_ROOM_STOPPED);
  }
  EXPECT_TRUE(gw.proc().wait_for_count("admin: ops (127.0.0.1) closes room 'lobby'", 1, 5s))
    << gw.log();
  EXPECT_EQ(call(gw.admin_port(), "POST", "/rooms/nowhere/close").status, 404);
  // The connections live on.
  EXPECT_TRUE(ann->ping().ok());
}

TEST(GatewayAdminTest, MalformedRequestsGetClearErrors) {
  temp_dir d;
  gateway_process gw{admin_flags(d), {}, false};
  ASSERT_NE(gw.admin_port(), 0) << gw.log();
  auto p = gw.admin_port();
  auto lobby = member(gw.port(), "ann", "lobby");
  struct bad {
    const char* method;
    const char* target;
    const char* body;
    int status;
    const char* says;
  };
  for (auto& b : std::initializer_list<bad>{
         {"POST", "/status", "", 405, "use GET"},
         {"GET", "/drain", "", 405, "use POST"},
         {"GET", "/log-level", "", 405, "use PUT"},
         {"GET", "/nowhere", "", 404, "no such endpoint"},
         {"PUT", "/log-level", "{not json", 400, "must be a JSON object"},
         {"PUT", "/log-level", "[1,2]", 400, "must be a JSON object"},
         {"PUT", "/log-level", "{}", 400, "needs \\\"level\\\""},
         {"PUT", "/log-level", R"({"level":3})", 400, "must be a string"},
         {"PUT", "/log-level", R"({"level":"loud"})", 400, "is one of trace"},
         {"POST", "/rooms/lobby/notice", R"({"text":""})", 400, "is empty"},
         {"POST", "/rooms/lobby/notice", R"({"txt":"hi"})", 400, "needs \\\"text\\\""},
       }) {
    auto r = call(p, b.method, b.target, b.body);
    EXPECT_EQ(r.status, b.status) << b.method << " " << b.target << " " << b.body << ": "
                                  << r.body;
    EXPECT_NE(r.body.find(b.says), std::string::npos) << r.body;
  }
  // Not HTTP at all.
  auto raw = client::http_exchange(p, "HELLO\r\n\r\n");
  EXPECT_EQ(raw.status, 400) << raw.body;
  // A log level that is one.
  auto level = call(p, "PUT", "/log-level", R"({"level":"debug"})");
  EXPECT_EQ(level.status, 200) << level.body;
  EXPECT_TRUE(gw.proc().wait_for_count("sets the log level from info to debug", 1, 5s))
    << gw.log();
  // Nothing of that broke the room.
  EXPECT_TRUE(lobby->publish("lobby", "still here").ok());
}

TEST(GatewayAdminTest, DrainStopsTheNodeLikeSigterm) {
  temp_dir d;
  gateway_process gw{admin_flags(d), {}, false};
  ASSERT_NE(gw.admin_port(), 0) << gw.log();
  auto ann = member(gw.port(), "ann", "lobby");
  auto r = call(gw.admin_port(), "POST", "/drain", "", eve_secret);
  EXPECT_EQ(r.status, 202) << r.body;
  // As on SIGTERM: every WebSocket gets 1001, then the node stops.
  EXPECT_FALSE(next_where(*ann, [](auto&) { return false; }));
  EXPECT_EQ(ann->socket().close_code(), 1001);
  auto status = gw.proc().wait(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0) << gw.log();
  EXPECT_NE(gw.log().find("admin: eve (127.0.0.1"), std::string::npos) << gw.log();
  EXPECT_NE(gw.log().find("starts a drain"), std::string::npos) << gw.log();
}

TEST(GatewayAdminTest, BadAdminFlagsAndTokenFilesExitWith2) {
  temp_dir d;
  auto good = token_file(d);
  auto short_secret = d.put("short.tokens", "ops:tooshort\n");
  auto duplicate = d.put("dup.tokens", "ops:" + ops_secret + "\nops:" + eve_secret + "\n");
  auto bad_name = d.put("name.tokens", "o p s:" + ops_secret + "\n");
  auto empty = d.put("empty.tokens", "# nothing\n\n");
  auto jwt_secret = d.put("jwt.secret", ops_secret + "\n");
  struct bad {
    std::vector<std::string> flags;
    const char* says;
  };
  for (auto& b : std::initializer_list<bad>{
         {{"--admin-port=0"}, "--admin-port needs --admin-token-file"},
         {{"--admin-token-file=" + good}, "--admin-token-file needs --admin-port"},
         {{"--admin-port=0", "--admin-token-file=" + short_secret}, "32 characters"},
         {{"--admin-port=0", "--admin-token-file=" + duplicate}, "ops"},
         {{"--admin-port=0", "--admin-token-file=" + bad_name}, "name"},
         {{"--admin-port=0", "--admin-token-file=" + empty}, "no token"},
         {{"--admin-port=0", "--admin-token-file=/nonexistent/tokens"}, "/nonexistent/tokens"},
         {{"--admin-port=0", "--admin-token-file=" + good, "--admin-allow=10.0.0.0/33"},
          "--admin-allow"},
         {{"--admin-port=0", "--admin-token-file=" + good, "--admin-allow=ten"}, "--admin-allow"},
         {{"--admin-port=0", "--admin-token-file=" + good, "--jwt-secret-file=" + jwt_secret},
          "is the user-token secret"},
         {{"--admin-port=http", "--admin-token-file=" + good}, "--admin-port"},
         {{"--admin-port=0", "--admin-token-file=" + good, "--admin-address=nowhere"},
          "--admin-address"},
       }) {
    std::vector<std::string> argv{PARLEY_GATEWAY_BIN, "--port=0"};
    argv.insert(argv.end(), b.flags.begin(), b.flags.end());
    auto res = run_program(argv, 20s);
    EXPECT_EQ(res.status, 2) << b.flags.back() << "\n" << res.err;
    EXPECT_NE(res.err.find(b.says), std::string::npos) << b.flags.back() << "\n" << res.err;
    EXPECT_EQ(res.err.find("listening"), std::string::npos) << res.err;
  }
}

TEST(GatewayAdminTest, ParleyCliAdminSpeaksToTheConsole) {
  temp_dir d;
  gateway_process gw{admin_flags(d), {}, false};
  ASSERT_NE(gw.admin_port(), 0) << gw.log();
  auto ann = member(gw.port(), "ann", "lobby");
  auto url = "--admin-url=http://127.0.0.1:" + std::to_string(gw.admin_port());
  auto tokens = "--admin-token-file=" + token_file(d);
  auto cli = [&](std::vector<std::string> args, std::vector<std::string> env = {}) {
    // Through env(1): run_program passes the test's environment on.
    std::vector<std::string> argv{"/usr/bin/env", "-u", "PARLEY_ADMIN_TOKEN", "-u",
                                  "PARLEY_ADMIN_URL"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(PARLEY_CLI_BIN);
    argv.push_back("admin");
    argv.insert(argv.end(), args.begin(), args.end());
    return run_program(argv, 20s);
  };
  auto status = cli({url, tokens, "status"});
  EXPECT_EQ(status.status, 0) << status.err;
  EXPECT_NE(status.out.find("\"websockets\":1"), std::string::npos) << status.out;
  // The token from the environment, the URL too.
  auto rooms = cli({"rooms"}, {"PARLEY_ADMIN_TOKEN=" + eve_secret,
                               "PARLEY_ADMIN_URL=http://127.0.0.1:"
                                 + std::to_string(gw.admin_port())});
  EXPECT_EQ(rooms.status, 0) << rooms.err;
  EXPECT_NE(rooms.out.find("\"name\":\"lobby\""), std::string::npos) << rooms.out;
  auto notice = cli({url, tokens, "notice", "lobby", "back", "in", "five"});
  EXPECT_EQ(notice.status, 0) << notice.err;
  auto got = next_where(*ann, [](const v1::ServerFrame& f) { return f.has_message(); });
  ASSERT_TRUE(got);
  EXPECT_EQ(got->message().text(), "back in five");
  // What goes wrong says so, with the console's reason.
  auto wrong = cli({url, "status"}, {"PARLEY_ADMIN_TOKEN=" + ops_secret + "x"});
  EXPECT_EQ(wrong.status, 1) << wrong.err;
  EXPECT_NE(wrong.err.find("HTTP 401: an admin token is required"), std::string::npos)
    << wrong.err;
  auto missing = cli({url, tokens, "kick"});
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.err.find("admin kick needs a connection id"), std::string::npos)
    << missing.err;
  auto unknown = cli({url, tokens, "reboot"});
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.err.find("unknown admin command 'reboot'"), std::string::npos) << unknown.err;
  auto bad_url = cli({"--admin-url=https://127.0.0.1:1", tokens, "status"});
  EXPECT_EQ(bad_url.status, 2);
  EXPECT_NE(bad_url.err.find("expected http://HOST[:PORT]"), std::string::npos) << bad_url.err;
  auto no_token = cli({url, "status"});
  EXPECT_EQ(no_token.status, 2);
  EXPECT_NE(no_token.err.find("an operator token is needed"), std::string::npos) << no_token.err;
  auto kick = cli({url, tokens, "kick", "no-such-id"});
  EXPECT_EQ(kick.status, 1);
  EXPECT_NE(kick.err.find("HTTP 404: no open connection"), std::string::npos) << kick.err;
}
