#include <gtest/gtest.h>

#include <set>

#include "common/ids.h"
#include "common/result.h"
#include "common/time.h"

namespace overseer {
namespace {

TEST(IdsTest, PrefixedUniqueSortedAndWellFormed) {
  std::set<std::string> seen;
  std::string prev;
  for (int i = 0; i < 2000; ++i) {
    std::string id = NewId("w_");
    EXPECT_LE(id.size(), 36u);
    EXPECT_TRUE(IsWellFormedId(id, "w_")) << id;
    EXPECT_FALSE(IsWellFormedId(id, "j_"));
    EXPECT_TRUE(seen.insert(id).second);
    if (!prev.empty() && id.substr(0, 14) == prev.substr(0, 14)) {
      EXPECT_GT(id, prev);
    }
    prev = id;
  }
}

TEST(IdsTest, RejectsMalformed) {
  EXPECT_FALSE(IsWellFormedId("w_", "w_"));
  EXPECT_FALSE(IsWellFormedId("w_ABC", "w_"));
  EXPECT_FALSE(IsWellFormedId("w_../etc", "w_"));
  EXPECT_FALSE(IsWellFormedId(std::string(37, 'a').replace(0, 2, "w_"), "w_"));
}

TEST(TimeTest, Rfc3339RoundTrip) {
  const TimeMs t = 1764058550123;  // 2025-11-25T08:15:50.123Z
  EXPECT_EQ(FormatRfc3339(t), "2025-11-25T08:15:50.123Z");
  EXPECT_EQ(ParseRfc3339("2025-11-25T08:15:50.123Z"), t);
  EXPECT_EQ(ParseRfc3339("2025-11-25T08:15:50Z"), t - 123);
  EXPECT_FALSE(ParseRfc3339("2025-11-25 08:15:50"));
  EXPECT_FALSE(ParseRfc3339("2025-11-25T08:15:50.Z"));
}

TEST(ResultTest, HoldsValueOrError) {
  Result<int> ok = 3;
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 3);
  Result<int> bad = MakeError(ErrorCode::kNotFound, "gone");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kNotFound);
  Result<int> def;
  EXPECT_EQ(def.error().code, ErrorCode::kInternal);
  Status s;
  EXPECT_TRUE(s);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kIdempotencyKeyReused), "IDEMPOTENCY_KEY_REUSED");
}

}  // namespace
}  // namespace overseer
