#include "store/migrations.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "common/embedded.h"

namespace overseer::store {
namespace {

using ::testing::ElementsAre;

std::vector<embedded::File> Files(std::initializer_list<std::string_view> names) {
  std::vector<embedded::File> out;
  for (std::string_view n : names) out.push_back({n, n});  // data = name, to check pairing
  return out;
}

std::vector<int> Versions(const std::vector<const Migration*>& plan) {
  std::vector<int> out;
  for (const Migration* m : plan) out.push_back(m->version);
  return out;
}

TEST(MigrationsTest, ParsesPairsSortedByVersion) {
  const auto files = Files({"0010_later.down.sql", "0001_init.up.sql", "0010_later.up.sql",
                            "0001_init.down.sql", "0002_add_x.down.sql", "0002_add_x.up.sql"});
  Result<std::vector<Migration>> m = ParseMigrations(files);
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[0].version, 1);
  EXPECT_EQ((*m)[0].name, "init");
  EXPECT_EQ((*m)[0].up_sql, "0001_init.up.sql");
  EXPECT_EQ((*m)[0].down_sql, "0001_init.down.sql");
  EXPECT_EQ((*m)[1].version, 2);
  EXPECT_EQ((*m)[1].name, "add_x");
  EXPECT_EQ((*m)[2].version, 10);
}

TEST(MigrationsTest, RejectsMalformedSets) {
  for (const auto& files :
       {Files({"0001_init.up.sql"}),                                            // no down
        Files({"0001_init.down.sql"}),                                          // no up
        Files({"0001_init.up.sql", "0001_init.down.sql", "0001_init.up.sql"}),  // repeated
        Files({"0001_init.up.sql", "0001_other.down.sql"}),                     // two names
        Files({"init.up.sql"}), Files({"0001_init.sql"}), Files({"00a1_init.up.sql"}),
        Files({"0001_.up.sql"}), Files({"0001_Init.up.sql", "0001_Init.down.sql"}),
        Files({"0000_zero.up.sql", "0000_zero.down.sql"})}) {
    Result<std::vector<Migration>> m = ParseMigrations(files);
    ASSERT_FALSE(m.ok()) << files.front().name;
    EXPECT_EQ(m.error().code, ErrorCode::kInternal);
  }
}

TEST(MigrationsTest, EmbeddedSqliteSetParsesAndStartsWithInit) {
  Result<std::vector<Migration>> m = ParseMigrations(embedded::sqlite_migrations());
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_FALSE(m->empty());
  EXPECT_EQ(m->front().version, 1);
  EXPECT_EQ(m->front().name, "init");
  EXPECT_NE(m->front().up_sql.find("CREATE TABLE workers"), std::string::npos);
  EXPECT_NE(m->front().down_sql.find("DROP TABLE"), std::string::npos);
}

class PlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::vector<Migration>> m =
        ParseMigrations(Files({"0001_a.up.sql", "0001_a.down.sql", "0002_b.up.sql",
                               "0002_b.down.sql", "0003_c.up.sql", "0003_c.down.sql"}));
    ASSERT_TRUE(m.ok());
    known_ = std::move(*m);
  }
  std::vector<Migration> known_;
};

TEST_F(PlanTest, UpAppliesPendingInOrderIncludingGaps) {
  EXPECT_THAT(Versions(PlanUp(known_, {})), ElementsAre(1, 2, 3));
  EXPECT_THAT(Versions(PlanUp(known_, {{1, {"a", 5}}, {3, {"c", 6}}})), ElementsAre(2));
  EXPECT_TRUE(PlanUp(known_, {{1, {"a", 5}}, {2, {"b", 5}}, {3, {"c", 6}}}).empty());
}

TEST_F(PlanTest, DownRollsBackNewestFirst) {
  const AppliedMap applied = {{1, {"a", 5}}, {2, {"b", 5}}, {3, {"c", 6}}};
  Result<std::vector<const Migration*>> plan = PlanDown(known_, applied, 2);
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(Versions(*plan), ElementsAre(3, 2));
  plan = PlanDown(known_, applied, 10);
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(Versions(*plan), ElementsAre(3, 2, 1));
  plan = PlanDown(known_, applied, 0);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->empty());
  plan = PlanDown(known_, applied, -1);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, ErrorCode::kInvalidRequest);
}

TEST_F(PlanTest, DownRefusesAVersionThisBinaryDoesNotKnow) {
  Result<std::vector<const Migration*>> plan =
      PlanDown(known_, {{1, {"a", 5}}, {9, {"future", 6}}}, 1);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, ErrorCode::kInternal);
}

TEST_F(PlanTest, DescribeListsKnownAndUnknownApplied) {
  std::vector<MigrationInfo> infos =
      DescribeMigrations(known_, {{2, {"b", 7}}, {9, {"future", 8}}});
  ASSERT_EQ(infos.size(), 4u);
  EXPECT_EQ(infos[0].version, 1);
  EXPECT_FALSE(infos[0].applied);
  EXPECT_EQ(infos[1].version, 2);
  EXPECT_TRUE(infos[1].applied);
  EXPECT_EQ(infos[1].applied_at, 7);
  EXPECT_EQ(infos[1].name, "b");
  EXPECT_FALSE(infos[2].applied);
  EXPECT_EQ(infos[3].version, 9);
  EXPECT_EQ(infos[3].name, "future");
  EXPECT_TRUE(infos[3].applied);
}

}  // namespace
}  // namespace overseer::store
