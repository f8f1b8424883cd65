// ParseDuration, scope names and Principal::HasScope, strict base64url.
#include <gtest/gtest.h>

#include <string>

#include "auth/base64url.h"
#include "auth/jwt.h"
#include "auth/principal.h"

namespace overseer::auth {
namespace {

TEST(ParseDurationTest, AcceptsUnits) {
  EXPECT_EQ(*ParseDuration("1h"), 3'600'000);
  EXPECT_EQ(*ParseDuration("30m"), 1'800'000);
  EXPECT_EQ(*ParseDuration("45s"), 45'000);
  EXPECT_EQ(*ParseDuration("2d"), 172'800'000);
  EXPECT_EQ(*ParseDuration("90"), 90'000);
  EXPECT_EQ(*ParseDuration("007m"), 420'000);
}

TEST(ParseDurationTest, RejectsMalformed) {
  for (const char* s : {"", "h", "0", "0h", "-5m", "+5m", "1.5h", "1 h", " 1h", "1h ", "1H", "1w",
                        "1hm", "ms", "1ms", "abc", "99999999999999999999", "9999999999999999d"}) {
    SCOPED_TRACE(s);
    Result<int64_t> d = ParseDuration(s);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, ErrorCode::kInvalidRequest);
  }
}

TEST(ScopeTest, EightKnownScopes) {
  EXPECT_EQ(kAllScopes.size(), 8u);
  for (const char* s :
       {"supervisor:read", "supervisor:write", "jobs:read", "jobs:write", "resources:read",
        "resources:write", "resources:admin", "supervisor:admin"}) {
    EXPECT_TRUE(IsKnownScope(s)) << s;
  }
  EXPECT_FALSE(IsKnownScope("jobs:admin"));
  EXPECT_FALSE(IsKnownScope(""));
}

TEST(ScopeTest, HasScopeIsExact) {
  Principal p;
  p.scopes = {"jobs:read", "resources:admin"};
  EXPECT_TRUE(p.HasScope(kJobsRead));
  EXPECT_TRUE(p.HasScope(kResourcesAdmin));
  EXPECT_FALSE(p.HasScope(kJobsWrite));
  EXPECT_FALSE(p.HasScope(kResourcesWrite));  // admin does not imply write
  EXPECT_FALSE(p.HasScope("jobs"));
}

TEST(Base64UrlTest, RoundTripsAllLengths) {
  std::string data;
  for (int i = 0; i < 70; ++i) {
    const std::string enc = Base64UrlEncode(data);
    EXPECT_EQ(enc.find_first_of("+/="), std::string::npos);
    EXPECT_EQ(Base64UrlDecodeToString(enc), data);
    data.push_back(static_cast<char>(i * 37 + 250));
  }
}

TEST(Base64UrlTest, KnownVectors) {  // RFC 4648 §10, minus padding
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(Base64UrlTest, RejectsNonCanonicalInput) {
  for (const char* s :
       {"Zg==", "Zg=", "Z", "Zh", "Zm9", "Zm+v", "Zm/v", "Zm9v\n", "Zm 9v", "-_9"}) {
    SCOPED_TRACE(s);
    EXPECT_FALSE(Base64UrlDecodeToString(s).has_value());
  }
  EXPECT_TRUE(Base64UrlDecodeToString("Zm8").has_value());
  EXPECT_TRUE(Base64UrlDecodeToString("").has_value());
}

}  // namespace
}  // namespace overseer::auth
