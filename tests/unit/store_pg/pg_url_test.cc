// Pure parts of src/store/postgres/pg_connection.h (no server): URL parsing and masking, the
// libpq → ErrorCode table, parameter text.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>

#include "store/postgres/pg_connection.h"

namespace overseer::store::pg {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::optional<std::string> Param(const PgConfig& config, const std::string& key) {
  for (const auto& [k, v] : config.params) {
    if (k == key) return v;
  }
  return std::nullopt;
}

TEST(PgUrlTest, ParsesBothSchemesIntoLibpqKeywords) {
  for (const char* url : {"postgresql://alice:pw@db.example:6543/overseer?sslmode=disable",
                          "postgres://alice:pw@db.example:6543/overseer?sslmode=disable"}) {
    Result<PgConfig> config = ParsePgUrl(url);
    ASSERT_TRUE(config.ok()) << url << ": " << config.error().message;
    EXPECT_EQ(Param(*config, "user"), "alice");
    EXPECT_EQ(Param(*config, "password"), "pw");
    EXPECT_EQ(Param(*config, "host"), "db.example");
    EXPECT_EQ(Param(*config, "port"), "6543");
    EXPECT_EQ(Param(*config, "dbname"), "overseer");
    EXPECT_EQ(Param(*config, "sslmode"), "disable");
    EXPECT_EQ(config->masked_url.find("pw"), std::string::npos) << config->masked_url;
  }
}

TEST(PgUrlTest, LeavesUnsetWhatLibpqTakesFromTheEnvironmentAndAddsDefaults) {
  Result<PgConfig> config = ParsePgUrl("postgresql://db.example/overseer");
  ASSERT_TRUE(config.ok());
  // No user or password: libpq's PGUSER / PGPASSWORD / ~/.pgpass apply.
  EXPECT_EQ(Param(*config, "user"), std::nullopt);
  EXPECT_EQ(Param(*config, "password"), std::nullopt);
  EXPECT_EQ(Param(*config, "fallback_application_name"), "overseer");
  EXPECT_EQ(Param(*config, "keepalives_idle"), "10");
  EXPECT_EQ(config->connect_timeout, std::chrono::seconds(5));
  EXPECT_EQ(config->masked_url, "postgresql://db.example/overseer");
}

TEST(PgUrlTest, UrlSettingsWinOverDefaults) {
  Result<PgConfig> config =
      ParsePgUrl("postgresql://h/d?connect_timeout=2&keepalives_idle=60&application_name=x");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->connect_timeout, std::chrono::seconds(2));
  EXPECT_EQ(Param(*config, "keepalives_idle"), "60");
  EXPECT_EQ(std::count_if(config->params.begin(), config->params.end(),
                          [](const auto& p) { return p.first == "keepalives_idle"; }),
            1);
  EXPECT_EQ(Param(*config, "application_name"), "x");
}

TEST(PgUrlTest, RejectsOtherSchemesAndMalformedUrlsWithoutThePassword) {
  for (const char* url :
       {"mysql://u:hunter2@h/d", "postgresql://u:hunter2@h:notaport/d?bogus_option=1",
        "postgresql://u:hunter2@h/d?bogus_option=1", "postgresql://u:hunter2@h/d?connect_timeout=x",
        "postgresql://u:hunter2@h/d%zz", "host=h password=hunter2"}) {
    Result<PgConfig> config = ParsePgUrl(url);
    ASSERT_FALSE(config.ok()) << url;
    EXPECT_EQ(config.error().code, ErrorCode::kInvalidRequest) << url;
    EXPECT_THAT(config.error().message, Not(HasSubstr("hunter2"))) << url;
  }
}

TEST(PgUrlTest, MasksUserinfoAndQueryPasswords) {
  EXPECT_EQ(MaskPgUrl("postgresql://alice:s3cret@h:5432/d"), "postgresql://alice:***@h:5432/d");
  EXPECT_EQ(MaskPgUrl("postgres://alice@h/d?password=s3cret&sslmode=require&sslpassword=k"),
            "postgres://alice@h/d?password=***&sslmode=require&sslpassword=***");
  // An unencoded '@' or '/' in the password: masked whole, not cut.
  EXPECT_EQ(MaskPgUrl("postgresql://alice:p@ss/w@h/d"), "postgresql://alice:***@h/d");
  EXPECT_EQ(MaskPgUrl("postgresql://h:5432/d"), "postgresql://h:5432/d");
  EXPECT_EQ(MaskPgUrl("postgresql://alice@h/d"), "postgresql://alice@h/d");
}

TEST(PgErrorCodeTest, MapsSqlstatesAndLostConnections) {
  EXPECT_EQ(PgErrorCodeFor("40001", true), ErrorCode::kConflict);  // serialization_failure
  EXPECT_EQ(PgErrorCodeFor("40P01", true), ErrorCode::kConflict);  // deadlock_detected
  EXPECT_EQ(PgErrorCodeFor("08006", true), ErrorCode::kUnavailable);
  EXPECT_EQ(PgErrorCodeFor("57P01", true), ErrorCode::kUnavailable);  // admin_shutdown
  EXPECT_EQ(PgErrorCodeFor("57P03", true), ErrorCode::kUnavailable);  // cannot_connect_now
  EXPECT_EQ(PgErrorCodeFor("53300", true), ErrorCode::kUnavailable);  // too_many_connections
  EXPECT_EQ(PgErrorCodeFor("55P03", true), ErrorCode::kUnavailable);  // lock_not_available
  EXPECT_EQ(PgErrorCodeFor("57014", true), ErrorCode::kUnavailable);  // query_canceled
  EXPECT_EQ(PgErrorCodeFor("23505", true), ErrorCode::kInternal);     // unique_violation
  EXPECT_EQ(PgErrorCodeFor("42601", true), ErrorCode::kInternal);     // syntax_error
  EXPECT_EQ(PgErrorCodeFor("", true), ErrorCode::kInternal);
  // Whatever the server said, a connection gone bad means "try later".
  EXPECT_EQ(PgErrorCodeFor("23505", false), ErrorCode::kUnavailable);
  EXPECT_EQ(PgErrorCodeFor("", false), ErrorCode::kUnavailable);
}

TEST(PgParamTest, RendersValuesAsText) {
  EXPECT_EQ(ToPgParam(int64_t{-42}), "-42");
  EXPECT_EQ(ToPgParam(true), "true");
  EXPECT_EQ(ToPgParam(0.1), "0.1");
  EXPECT_EQ(ToPgParam(std::string_view("x")), "x");
  EXPECT_EQ(ToPgParam(std::nullopt), std::nullopt);
  EXPECT_EQ(ToPgParam(std::optional<int>()), std::nullopt);
  EXPECT_EQ(ToPgParam(std::optional<int>(7)), "7");
  EXPECT_EQ(ToPgParam(static_cast<const char*>(nullptr)), std::nullopt);
}

}  // namespace
}  // namespace overseer::store::pg
