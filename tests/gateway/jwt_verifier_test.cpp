// Token verification on its own: every way a token is refused, and what a
// good one grants (the gateway's use of it: auth_test.cpp).
#include "parley/gateway/jwt_verifier.hpp"

#include "support/tokens.hpp"

#include <gtest/gtest.h>

#include <filesystem>

using namespace parley;
using namespace parley::test;

namespace {

struct files {
  std::filesystem::path dir;
  files() {
    dir = std::filesystem::temp_directory_path()
          / ("parley_jwt_test_" + std::to_string(::getpid()) + "_"
             + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
  }
  ~files() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string put(const std::string& name, const std::string& text) {
    auto p = (dir / name).string();
    write_file(p, text);
    return p;
  }
};

std::shared_ptr<const actors::token_verifier> verifier(gateway::jwt_settings s) {
  auto made = gateway::make_jwt_verifier(s);
  if (auto* why = std::get_if<std::string>(&made)) {
    ADD_FAILURE() << *why;
    return nullptr;
  }
  return std::get<0>(made);
}

/// The reason a token is refused ("" if it is taken).
std::string refusal(const actors::token_verifier& v, const std::string& token) {
  auto r = v.verify(token);
  if (auto* why = std::get_if<std::string>(&r))
    return *why;
  return "";
}

std::string claims(const std::string& sub, long exp_in = 3600, const std::string& more = "") {
  return R"({"sub":")" + sub + R"(","exp":)" + std::to_string(now_s() + exp_in) + more + "}";
}

} // namespace

TEST(JwtVerifier, AnHs256TokenNamesItsUser) {
  files f;
  auto v = verifier({f.put("secret", test_secret() + "\n"), "", "", ""});
  ASSERT_TRUE(v);
  auto r = v->verify(sign(JWT_ALG_HS256, test_secret(), claims("ann")));
  ASSERT_TRUE(std::holds_alternative<actors::identity>(r)) << std::get<std::string>(r);
  auto& who = std::get<actors::identity>(r);
  EXPECT_EQ(who.user, "ann");
  EXPECT_TRUE(who.rooms.allows("any-room", actors::right_publish)) << "no rooms claim: all rooms";
}

TEST(JwtVerifier, ForgedExpiredAndEarlyTokensAreRefused) {
  files f;
  auto v = verifier({f.put("secret", test_secret()), "", "", ""});
  ASSERT_TRUE(v);
  auto other = std::string(48, 'x');
  EXPECT_EQ(refusal(*v, sign(JWT_ALG_HS256, other, claims("ann"))),
            "the signature does not verify");
  auto good = sign(JWT_ALG_HS256, test_secret(), claims("ann"));
  auto tampered = good;
  tampered[good.find('.') + 3] ^= 1; // a changed claim
  EXPECT_FALSE(refusal(*v, tampered).empty());
  EXPECT_EQ(refusal(*v, sign(JWT_ALG_HS256, test_secret(), claims("ann", -10))), "expired");
  EXPECT_EQ(refusal(*v, sign(JWT_ALG_HS256, test_secret(),
                             claims("ann", 3600, R"(,"nbf":)" + std::to_string(now_s() + 600)))),
            "not valid yet (nbf)");
  EXPECT_EQ(refusal(*v, sign(JWT_ALG_HS256, test_secret(), R"({"exp":)"
                                                               + std::to_string(now_s() + 60)
                                                               + "}")),
            "it names no user (sub)");
  EXPECT_NE(refusal(*v, sign(JWT_ALG_HS256, test_secret(), claims("~ann"))).find("not a user"),
            std::string::npos)
    << "a token cannot name a guest";
}

TEST(JwtVerifier, AlgorithmsOtherThanTheServersAreRefused) {
  files f;
  auto v = verifier({f.put("secret", test_secret()), "", "", ""});
  ASSERT_TRUE(v);
  EXPECT_EQ(refusal(*v, unsigned_token(claims("ann"))),
            "algorithm 'none' is not accepted (this server takes HS256)");
  // The same secret, another HMAC: still not what the server takes.
  EXPECT_EQ(refusal(*v, sign(JWT_ALG_HS512, test_secret(), claims("ann"))),
            "algorithm 'HS512' is not accepted (this server takes HS256)");
}

TEST(JwtVerifier, MalformedTokensAreRefused) {
  files f;
  auto v = verifier({f.put("secret", test_secret()), "", "", ""});
  ASSERT_TRUE(v);
  for (std::string bad : std::vector<std::string>{
         "", "abc", "a.b", "!!!.b.c", base64url("not json") + ".e30.",
         base64url(R"({"typ":"JWT"})") + ".e30.", std::string(9000, 'a') + ".b.c"})
    EXPECT_FALSE(refusal(*v, bad).empty()) << "'" << bad.substr(0, 40) << "' was taken";
}

TEST(JwtVerifier, AudienceAndIssuerMustMatchWhenTheServerNamesThem) {
  files f;
  auto v = verifier({f.put("secret", test_secret()), "", "parley", "https://auth.example"});
  ASSERT_TRUE(v);
  auto with = [&](const std::string& more) {
    return refusal(*v, sign(JWT_ALG_HS256, test_secret(), claims("ann", 3600, more)));
  };
  EXPECT_EQ(with(R"(,"aud":"parley","iss":"https://auth.example")"), "");
  EXPECT_EQ(with(R"(,"aud":["other","parley"],"iss":"https://auth.example")"), "");
  EXPECT_EQ(with(R"(,"aud":"other","iss":"https://auth.example")"), "for another audience");
  EXPECT_EQ(with(R"(,"iss":"https://auth.example")"), "for another audience");
  EXPECT_EQ(with(R"(,"aud":"parley","iss":"https://evil.example")"), "from another issuer");
  EXPECT_EQ(with(R"(,"aud":"parley")"), "from another issuer");
}

TEST(JwtVerifier, TheRoomsClaimGrantsRoomsAndRights) {
  files f;
  auto v = verifier({f.put("secret", test_secret()), "", "", ""});
  ASSERT_TRUE(v);
  auto r = v->verify(sign(JWT_ALG_HS256, test_secret(),
                          claims("ann", 3600,
                                 R"(,"rooms":{"lobby":["join","publish"],"team-*":"join+history"})")));
  ASSERT_TRUE(std::holds_alternative<actors::identity>(r)) << std::get<std::string>(r);
  auto& rooms = std::get<actors::identity>(r).rooms;
  EXPECT_TRUE(rooms.allows("lobby", actors::right_publish));
  EXPECT_FALSE(rooms.allows("lobby", actors::right_history));
  EXPECT_TRUE(rooms.allows("team-red", actors::right_history));
  EXPECT_FALSE(rooms.allows("team-red", actors::right_publish));
  EXPECT_FALSE(rooms.allows("hr-private", actors::right_join));
  for (std::string bad : std::vector<std::string>{R"(,"rooms":["lobby"])", R"(,"rooms":{"lobby":"read"})",
                          R"(,"rooms":{"lob by":"join"})", R"(,"rooms":{"lobby":[1]})"})
    EXPECT_NE(refusal(*v, sign(JWT_ALG_HS256, test_secret(), claims("ann", 3600, bad)))
                .find("rooms claim"),
              std::string::npos)
      << bad;
}

TEST(JwtVerifier, Rs256AndEs256WithAPublicKey) {
  files f;
  for (auto [kind, alg] : {std::pair{"rsa", JWT_ALG_RS256}, std::pair{"ec", JWT_ALG_ES256}}) {
    auto keys = make_keys(kind);
    auto v = verifier({"", f.put(std::string{kind} + ".pem", keys.public_pem), "", ""});
    ASSERT_TRUE(v) << kind;
    EXPECT_EQ(refusal(*v, sign(alg, keys.private_pem, claims("bob"))), "") << kind;
    auto other = make_keys(kind);
    EXPECT_EQ(refusal(*v, sign(alg, other.private_pem, claims("bob"))),
              "the signature does not verify")
      << kind;
    // The classic confusion: HS256 "signed" with the public key as secret.
    EXPECT_NE(refusal(*v, sign(JWT_ALG_HS256, keys.public_pem, claims("bob")))
                .find("algorithm 'HS256' is not accepted"),
              std::string::npos)
      << kind;
  }
}

TEST(JwtVerifier, BadSettingsSayWhichFlagAndWhy) {
  files f;
  auto why = [](gateway::jwt_settings s) {
    auto made = gateway::make_jwt_verifier(s);
    auto* text = std::get_if<std::string>(&made);
    return text ? *text : std::string{};
  };
  EXPECT_NE(why({f.put("short", "tooshort\n"), "", "", ""}).find("fewer than 32 bytes"),
            std::string::npos);
  EXPECT_NE(why({"/nonexistent/secret", "", "", ""}).find("--jwt-secret-file=/nonexistent/secret"),
            std::string::npos);
  EXPECT_NE(why({"", f.put("junk.pem", "not a key"), "", ""}).find("not a PEM public key"),
            std::string::npos);
  EXPECT_NE(why({"", "", "", ""}).find("no key"), std::string::npos);
}
