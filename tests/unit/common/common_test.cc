#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <random>
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

TEST(TimeTest, Rfc3339AgreesWithGmtimeOnLeapDaysAndRandomInstants) {
  auto reference = [](TimeMs t) {
    const std::time_t secs = static_cast<std::time_t>(t / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(t % 1000));
    return std::string(buf);
  };
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(1709251199999), "2024-02-29T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339(4107542400000), "2100-03-01T00:00:00.000Z");  // 2100: no leap day
  EXPECT_EQ(FormatRfc3339(253402300799999), "9999-12-31T23:59:59.999Z");
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<TimeMs> any(0, 253402300799999);
  for (int i = 0; i < 20000; ++i) {
    const TimeMs t = any(rng);
    ASSERT_EQ(FormatRfc3339(t), reference(t)) << t;
    ASSERT_EQ(ParseRfc3339(FormatRfc3339(t)), t) << t;
  }
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
