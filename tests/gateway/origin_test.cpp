// Which pages may open a WebSocket: the origin policy on its own (the
// gateway's use of it is in abuse_test.cpp).
#include "parley/gateway/origin.hpp"

#include <gtest/gtest.h>

using parley::gateway::origin_policy;

TEST(OriginPolicy, ByDefaultOnlyTheGatewaysOwnOrigin) {
  origin_policy own;
  EXPECT_TRUE(own.allows("", "chat.example.com")) << "no Origin: not a browser";
  EXPECT_TRUE(own.allows("http://127.0.0.1:8080", "127.0.0.1:8080"));
  EXPECT_TRUE(own.allows("https://Chat.Example.com", "chat.example.com"))
    << "the host is case-insensitive; 443 is https's default";
  EXPECT_TRUE(own.allows("http://chat.example.com:80", "chat.example.com"));
  EXPECT_FALSE(own.allows("http://127.0.0.1:9999", "127.0.0.1:8080")) << "another port";
  EXPECT_FALSE(own.allows("https://evil.example", "chat.example.com"));
  EXPECT_FALSE(own.allows("null", "chat.example.com"));
  EXPECT_FALSE(own.allows("http://chat.example.com.evil.example", "chat.example.com"));
  EXPECT_FALSE(own.allows("http://chat.example.com", "")) << "no Host to compare with";
}

TEST(OriginPolicy, ListedOriginsAndSubdomainPatterns) {
  origin_policy p{{"https://chat.example.com", "https://*.example.org", "http://localhost:3000"}};
  EXPECT_TRUE(p.allows("https://chat.example.com", "gateway.internal"));
  EXPECT_TRUE(p.allows("https://chat.example.com:443", "gateway.internal"));
  EXPECT_FALSE(p.allows("http://chat.example.com", "gateway.internal")) << "another scheme";
  EXPECT_TRUE(p.allows("https://a.example.org", "x"));
  EXPECT_TRUE(p.allows("https://a.b.example.org", "x"));
  EXPECT_FALSE(p.allows("https://example.org", "x")) << "*. means a subdomain";
  EXPECT_FALSE(p.allows("https://badexample.org", "x"));
  EXPECT_TRUE(p.allows("http://localhost:3000", "x"));
  EXPECT_FALSE(p.allows("http://localhost:3001", "x"));
  EXPECT_FALSE(p.allows("http://gateway.internal", "gateway.internal"))
    << "a list replaces the default";
  EXPECT_FALSE(p.allows("null", "x"));
}

TEST(OriginPolicy, StarAllowsAnyPage) {
  origin_policy any{{"*"}};
  EXPECT_TRUE(any.allows("https://anything.example", "x"));
  EXPECT_TRUE(any.allows("null", "x"));
}

TEST(OriginPolicy, MalformedEntriesAreRefusedWithTheirForm) {
  for (const char* bad : {"chat.example.com", "ftp://x.example", "https://", "https://x/path",
                          "https://x:port", "https://x:123456", "https://*", "", "**",
                          "https://a b"}) {
    auto why = origin_policy::check(bad);
    ASSERT_TRUE(why) << "'" << bad << "' was taken";
    EXPECT_NE(why->find("scheme://host[:port]"), std::string::npos) << *why;
  }
  for (const char* good : {"*", "https://chat.example.com", "http://localhost:8080",
                           "https://*.example.com", "http://[::1]:8080"})
    EXPECT_FALSE(origin_policy::check(good)) << good;
}
