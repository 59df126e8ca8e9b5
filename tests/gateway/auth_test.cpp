// Token authentication and room permissions against a real gateway over
// real sockets (issue 12): every refusal an attacker meets, and what a
// valid token and a guest may do.
#include "support/process.hpp"
#include "support/raw_chat.hpp"
#include "support/tokens.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

using namespace parley::test;
using namespace std::chrono_literals;
namespace v1 = parley::v1;

namespace {

class AuthTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path()
           / ("parley_auth_test_" + std::to_string(::getpid()) + "_"
              + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    secret_file_ = (dir_ / "jwt.secret").string();
    write_file(secret_file_, test_secret() + "\n");
  }

  void TearDown() override {
    gw_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void start(std::vector<std::string> flags) {
    flags.push_back("--jwt-secret-file=" + secret_file_);
    gw_ = std::make_unique<gateway_process>(flags);
    ASSERT_NE(gw_->port(), 0);
  }

  static std::string token(const std::string& sub, const std::string& more = "",
                           long exp_in = 3600) {
    return sign(JWT_ALG_HS256, test_secret(),
                R"({"sub":")" + sub + R"(","exp":)" + std::to_string(now_s() + exp_in) + more
                  + "}");
  }

  /// A WebSocket that said hello with `tok`; its welcome, or nothing.
  std::optional<v1::ServerFrame> hello(raw_ws& c, const std::string& tok,
                                       const std::string& user = "") {
    if (!c.connect(gw_->port()) || c.handshake() != 101)
      return std::nullopt;
    std::string body = R"("token":")" + tok + "\"";
    if (!user.empty())
      body += R"(,"user":")" + user + "\"";
    return ask(c, "h", R"({"ref":"h","hello":{)" + body + "}}");
  }

  /// Expects UNAUTHENTICATED (ref `ref`) and then close 1008.
  static void expect_refused(raw_ws& c, const std::optional<v1::ServerFrame>& reply,
                             const std::string& why) {
    ASSERT_TRUE(reply) << why;
    EXPECT_EQ(reply->error().code(), v1::ERROR_CODE_UNAUTHENTICATED)
      << why << ": " << reply->DebugString();
    auto close = expect_close(c);
    EXPECT_EQ(close.close_code(), 1008) << why;
  }

  std::filesystem::path dir_;
  std::string secret_file_;
  std::unique_ptr<gateway_process> gw_;
};

} // namespace

TEST_F(AuthTest, RequiredRefusesEveryBadTokenWithUnauthenticatedAnd1008) {
  start({"--auth=required"});
  struct bad {
    std::string what, token;
  } cases[] = {
    {"forged", sign(JWT_ALG_HS256, std::string(48, 'x'), R"({"sub":"ann"})")},
    {"expired", token("ann", "", -60)},
    {"not yet valid", token("ann", R"(,"nbf":)" + std::to_string(now_s() + 600))},
    {"alg none", unsigned_token(R"({"sub":"ann"})")},
    {"wrong alg", sign(JWT_ALG_HS384, test_secret(), R"({"sub":"ann"})")},
    {"garbage", "not-a-token"},
  };
  for (auto& b : cases) {
    raw_ws c;
    auto reply = hello(c, b.token);
    expect_refused(c, reply, b.what);
  }
  // No token at all.
  raw_ws bare;
  ASSERT_TRUE(bare.connect(gw_->port()));
  ASSERT_EQ(bare.handshake(), 101);
  expect_refused(bare, ask(bare, "h", R"({"ref":"h","hello":{"user":"ann"}})"), "no token");
  // A request before any hello.
  raw_ws early;
  ASSERT_TRUE(early.connect(gw_->port()));
  ASSERT_EQ(early.handshake(), 101);
  expect_refused(early, ask(early, "j", R"({"ref":"j","join":{"room":"hr-private"}})"),
                 "join before hello");
  // The first refusal is logged; those within the next second are counted
  // into the next line instead.
  await_log(*gw_, "closed, unauthenticated: token: the signature does not verify");
  EXPECT_GE(metric(gw_->port(), R"(parley_errors_total{code="ERROR_CODE_UNAUTHENTICATED"})"), 8);
  // The gateway goes on, and a ping needs no token.
  raw_ws witness;
  ASSERT_TRUE(witness.connect(gw_->port()));
  ASSERT_EQ(witness.handshake(), 101);
  auto pong = ask(witness, "p", R"({"ref":"p","ping":{"clientTimeMs":"7"}})");
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->ack().pong().client_time_ms(), 7u);
}

TEST_F(AuthTest, AValidTokenNamesTheUserWhateverHelloSays) {
  start({"--auth=required"});
  raw_ws c;
  auto welcome = hello(c, token("ann"), "root");
  ASSERT_TRUE(welcome);
  ASSERT_TRUE(welcome->ack().has_welcome()) << welcome->DebugString();
  EXPECT_EQ(welcome->ack().welcome().user(), "ann");
  EXPECT_FALSE(welcome->ack().welcome().guest());
  auto joined = ask(c, "j", R"({"ref":"j","join":{"room":"lobby"}})");
  ASSERT_TRUE(joined && joined->ack().has_joined()) << (joined ? joined->DebugString() : "");
  auto msg = ask(c, "p", R"({"ref":"p","publish":{"room":"lobby","text":"hi"}})");
  ASSERT_TRUE(msg && msg->ack().has_published());
  EXPECT_EQ(joined->ack().joined().members(0), "ann");
}

TEST_F(AuthTest, AnActiveClientIsClosedWhenItsTokenExpires) {
  // No rate limit: the test asks as fast as it can until the expiry.
  start({"--auth=required", "--rate-limit=1000000", "--rate-burst=1000000"});
  raw_ws c;
  auto start_time = std::chrono::system_clock::now();
  // exp is in whole seconds: it falls 1 to 2 seconds from now.
  auto welcome = hello(c, token("ann", "", 2));
  ASSERT_TRUE(welcome && welcome->ack().has_welcome()) << (welcome ? welcome->DebugString() : "");
  // Each ping before the expiry is answered. At the expiry the session's
  // timer closes the connection, or, if a ping gets there first, the
  // connection refuses it (UNAUTHENTICATED) and closes: either way 1008.
  // No fixed sleep: the loop ends with the connection.
  int pongs = 0;
  for (int n = 1; std::chrono::system_clock::now() < start_time + 10s; ++n) {
    auto ref = "p" + std::to_string(n);
    if (!c.send_text(R"({"ref":")" + ref + R"(","ping":{}})"))
      break;
    auto f = c.read_frame();
    ASSERT_TRUE(f) << "no close frame after " << pongs << " pongs";
    if (f->opcode == 0x8) {
      EXPECT_EQ(f->close_code(), 1008);
      break;
    }
    auto res = parley::proto::decode_server(f->payload, parley::proto::encoding::json);
    auto* frame = std::get_if<v1::ServerFrame>(&res);
    ASSERT_TRUE(frame) << f->payload;
    if (frame->ack().has_pong()) {
      ++pongs;
      continue;
    }
    EXPECT_EQ(frame->error().code(), v1::ERROR_CODE_UNAUTHENTICATED) << frame->DebugString();
    EXPECT_NE(frame->error().reason().find("expired during the connection"), std::string::npos);
    EXPECT_EQ(expect_close(c).close_code(), 1008);
    break;
  }
  EXPECT_GT(pongs, 0) << "served while the token was valid";
  EXPECT_GE(std::chrono::system_clock::now(), start_time + 1s) << "closed before its exp";
}

TEST_F(AuthTest, AClientThatOnlyListensIsClosedWhenItsTokenExpires) {
  start({"--auth=required"});
  raw_ws c;
  auto start_time = std::chrono::system_clock::now();
  auto welcome = hello(c, token("ann", "", 2)); // exp falls 1 to 2 s from now
  ASSERT_TRUE(welcome && welcome->ack().has_welcome()) << (welcome ? welcome->DebugString() : "");
  ASSERT_TRUE(ask(c, "j", R"({"ref":"j","join":{"room":"lobby"}})"));
  // It sends nothing more; the gateway closes it when the token expires.
  auto close = expect_close(c);
  EXPECT_GE(std::chrono::system_clock::now(), start_time + 1s) << "closed before its exp";
  EXPECT_EQ(close.close_code(), 1008);
  EXPECT_NE(close.payload.find("token expired"), std::string::npos) << close.payload;
  await_log(*gw_, "its token expired");
}

TEST_F(AuthTest, TheTokenMayComeInTheUrl) {
  start({"--auth=required"});
  raw_ws c;
  ASSERT_TRUE(c.connect(gw_->port()));
  ASSERT_EQ(c.handshake("/ws?token=" + token("bob")), 101);
  auto joined = ask(c, "j", R"({"ref":"j","join":{"room":"lobby"}})");
  ASSERT_TRUE(joined && joined->ack().has_joined()) << (joined ? joined->DebugString() : "");
  EXPECT_EQ(joined->ack().joined().members(0), "bob");
  // Percent-encoded (its dots as %2E, after another parameter) it decodes
  // to the same token.
  auto encoded = token("cy");
  for (size_t i; (i = encoded.find('.')) != std::string::npos;)
    encoded.replace(i, 1, "%2E");
  raw_ws cy;
  ASSERT_TRUE(cy.connect(gw_->port()));
  ASSERT_EQ(cy.handshake("/ws?v=1&token=" + encoded), 101);
  auto cy_joined = ask(cy, "j", R"({"ref":"j","join":{"room":"lobby"}})");
  ASSERT_TRUE(cy_joined && cy_joined->ack().has_joined())
    << (cy_joined ? cy_joined->DebugString() : "");
  // A query that does not decode carries no token: refused at the hello.
  raw_ws garbled;
  ASSERT_TRUE(garbled.connect(gw_->port()));
  ASSERT_EQ(garbled.handshake("/ws?token=%zz"), 101);
  expect_refused(garbled, ask(garbled, "h", R"({"ref":"h","hello":{}})"), "a garbled query");
  // A bad one in the URL is refused at once, before the client asks anything.
  raw_ws bad;
  ASSERT_TRUE(bad.connect(gw_->port()));
  ASSERT_EQ(bad.handshake("/ws?token=" + token("bob", "", -60)), 101);
  auto refusal = read_until(bad, [](const v1::ServerFrame& f) { return f.has_error(); });
  expect_refused(bad, refusal, "expired token in the URL");
}

TEST_F(AuthTest, GuestsCannotTakeATokenHoldersName) {
  start({}); // --auth=guests, the default
  raw_ws ann, fake;
  auto real = hello(ann, token("ann"));
  ASSERT_TRUE(real && real->ack().has_welcome());
  ASSERT_TRUE(ask(ann, "j", R"({"ref":"j","join":{"room":"lobby"}})"));
  ASSERT_TRUE(fake.connect(gw_->port()));
  ASSERT_EQ(fake.handshake(), 101);
  auto welcome = ask(fake, "h", R"({"ref":"h","hello":{"user":"ann"}})");
  ASSERT_TRUE(welcome && welcome->ack().has_welcome());
  EXPECT_EQ(welcome->ack().welcome().user(), "~ann");
  EXPECT_TRUE(welcome->ack().welcome().guest());
  ASSERT_TRUE(ask(fake, "j", R"({"ref":"j","join":{"room":"lobby"}})"));
  ASSERT_TRUE(ask(fake, "p", R"({"ref":"p","publish":{"room":"lobby","text":"I am ann"}})"));
  auto seen = read_until(ann, [](const v1::ServerFrame& f) {
    return f.has_message() && f.message().text() == "I am ann";
  });
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->message().sender(), "~ann") << "ann's readers tell the guest apart";
  // And a token may not name a guest.
  raw_ws tilde;
  expect_refused(tilde, hello(tilde, token("~ann")), "a token whose sub is a guest's name");
}

TEST_F(AuthTest, RoomsOutsideTheGrantsAreForbidden) {
  start({"--guest-rooms=lobby=join+history"});
  raw_ws ann;
  auto welcome = hello(ann, token("ann", R"(,"rooms":{"team-*":["join","publish"],"news":"join"})"));
  ASSERT_TRUE(welcome && welcome->ack().has_welcome()) << (welcome ? welcome->DebugString() : "");
  auto code = [](const std::optional<v1::ServerFrame>& f) {
    return f ? f->error().code() : v1::ERROR_CODE_UNSPECIFIED;
  };
  EXPECT_EQ(code(ask(ann, "1", R"({"ref":"1","join":{"room":"hr-private"}})")),
            v1::ERROR_CODE_FORBIDDEN);
  auto joined = ask(ann, "2", R"({"ref":"2","join":{"room":"team-red"}})");
  ASSERT_TRUE(joined && joined->ack().has_joined());
  EXPECT_TRUE(ask(ann, "3", R"({"ref":"3","publish":{"room":"team-red","text":"go"}})")
                ->ack()
                .has_published());
  EXPECT_EQ(code(ask(ann, "4", R"({"ref":"4","history":{"room":"team-red"}})")),
            v1::ERROR_CODE_FORBIDDEN)
    << "join+publish, no history";
  ASSERT_TRUE(ask(ann, "5", R"({"ref":"5","join":{"room":"news"}})")->ack().has_joined());
  EXPECT_EQ(code(ask(ann, "6", R"({"ref":"6","publish":{"room":"news","text":"x"}})")),
            v1::ERROR_CODE_FORBIDDEN);
  // A guest: the lobby to read, nothing else.
  raw_ws guest;
  ASSERT_TRUE(open_chat(guest, gw_->port(), "gus"));
  EXPECT_EQ(code(ask(guest, "1", R"({"ref":"1","join":{"room":"team-red"}})")),
            v1::ERROR_CODE_FORBIDDEN);
  ASSERT_TRUE(ask(guest, "2", R"({"ref":"2","join":{"room":"lobby"}})")->ack().has_joined());
  auto refused = ask(guest, "3", R"({"ref":"3","publish":{"room":"lobby","text":"x"}})");
  EXPECT_EQ(code(refused), v1::ERROR_CODE_FORBIDDEN);
  EXPECT_NE(refused->error().reason().find("as a guest"), std::string::npos);
  // The room list shows only rooms the user may join.
  auto list = ask(guest, "4", R"({"ref":"4","rooms":{}})");
  ASSERT_TRUE(list && list->ack().has_rooms()) << (list ? list->DebugString() : "");
  for (auto& r : list->ack().rooms().rooms())
    EXPECT_EQ(r.name(), "lobby") << "a guest sees " << r.name();
  auto anns = ask(ann, "7", R"({"ref":"7","rooms":{}})");
  ASSERT_TRUE(anns && anns->ack().has_rooms());
  bool lists_team = false;
  for (auto& r : anns->ack().rooms().rooms()) {
    EXPECT_NE(r.name(), "lobby") << "ann has no grant for the lobby";
    lists_team = lists_team || r.name() == "team-red";
  }
  EXPECT_TRUE(lists_team);
}

TEST_F(AuthTest, ParleyCliSaysHelloWithAToken) {
  start({"--auth=required"});
  auto url = "--url=ws://127.0.0.1:" + std::to_string(gw_->port()) + "/ws";
  auto with = run_program({PARLEY_CLI_BIN, url, "--token=" + token("cli-user"), "connect"}, 30s);
  ASSERT_EQ(with.status, 0) << with.err;
  EXPECT_NE(with.out.find(R"("user":"cli-user")"), std::string::npos) << with.out;
  auto without = run_program({PARLEY_CLI_BIN, url, "connect"}, 30s);
  EXPECT_NE(without.status, 0);
  EXPECT_NE((without.out + without.err).find("UNAUTHENTICATED"), std::string::npos)
    << without.out << without.err;
}

TEST(AuthConfig, BadSettingsAreUsageErrors) {
  auto dir = std::filesystem::temp_directory_path() / ("parley_auth_cfg_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto short_secret = (dir / "short").string();
  write_file(short_secret, "short\n");
  struct bad {
    std::vector<std::string> flags;
    std::string says;
  } cases[] = {
    {{"--auth=required"}, "--auth=required needs --jwt-secret-file or --jwt-public-key-file"},
    {{"--auth=maybe"}, "--auth"},
    {{"--jwt-secret-file=" + short_secret}, "fewer than 32 bytes"},
    {{"--jwt-public-key-file=" + short_secret}, "not a PEM public key"},
    {{"--guest-rooms=lob by"}, "a room grant is NAME, PREFIX* or *"},
    {{"--guest-rooms=lobby=read"}, "rights are join, publish, history, presence or all"},
  };
  for (auto& b : cases) {
    std::vector<std::string> argv{PARLEY_GATEWAY_BIN};
    argv.insert(argv.end(), b.flags.begin(), b.flags.end());
    auto res = run_program(argv, 30s);
    ASSERT_TRUE(res.status) << b.flags[0];
    EXPECT_EQ(*res.status, 2) << b.flags[0] << ": " << res.err;
    EXPECT_NE(res.err.find(b.says), std::string::npos) << b.flags[0] << ": " << res.err;
  }
  std::filesystem::remove_all(dir);
}
