// ParseDuration, scope names and Principal::HasScope.
#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace overseer::auth
