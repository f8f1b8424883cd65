// core/budget: what a pool has left, reservations, fan-out caps, spent limits, charges.
#include "core/budget.h"

#include <gtest/gtest.h>

namespace overseer::core {
namespace {

Budget UsdTokens(std::optional<double> usd, std::optional<int64_t> tokens) {
  Budget b;
  b.usd = usd;
  b.tokens = tokens;
  return b;
}

TEST(BudgetTest, LeftIsTheBudgetLessUsageLessWhatIsHeldBelow) {
  BudgetPool p{"j_1", UsdTokens(5.0, std::nullopt), JobUsage{1.5, 900, 0, 0}, Reservation{2.0, 0}};
  BudgetLeft l = Left(p);
  ASSERT_TRUE(l.usd.has_value());
  EXPECT_DOUBLE_EQ(*l.usd, 1.5);
  EXPECT_FALSE(l.tokens.has_value());  // no token limit: nothing to be left of
}

TEST(BudgetTest, UnspentNeverGoesBelowZero) {
  Reservation r = Unspent(UsdTokens(1.0, 100), JobUsage{1.4, 40, 0, 0});
  EXPECT_DOUBLE_EQ(r.usd, 0.0);
  EXPECT_EQ(r.tokens, 60);
}

TEST(BudgetTest, AReservationMustFitWhatThePoolHasLeftOfEachLimitItSets) {
  BudgetPool p{"j_p", UsdTokens(5.0, 1000), JobUsage{1.0, 100, 0, 0}, Reservation{1.0, 0}};
  EXPECT_FALSE(CheckReservation(p, UsdTokens(3.0, std::nullopt)).has_value());
  std::optional<BudgetRefusal> r = CheckReservation(p, UsdTokens(3.5, std::nullopt));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->limit, "usd");
  EXPECT_DOUBLE_EQ(r->requested, 3.5);
  EXPECT_DOUBLE_EQ(r->left, 3.0);
  EXPECT_EQ(r->job_id, "j_p");
  EXPECT_TRUE(r->money);
  r = CheckReservation(p, UsdTokens(std::nullopt, 901));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->limit, "tokens");
  EXPECT_DOUBLE_EQ(r->left, 900);
  // Raising a budget asks only for the increase.
  EXPECT_FALSE(CheckReservation(p, UsdTokens(4.0, std::nullopt), Reservation{1.0, 0}).has_value());
  EXPECT_TRUE(CheckReservation(p, UsdTokens(4.5, std::nullopt), Reservation{1.0, 0}).has_value());
  // A pool without a USD limit does not refuse a USD budget.
  BudgetPool tokens_only{"j_t", UsdTokens(std::nullopt, 10), JobUsage{}, Reservation{}};
  EXPECT_FALSE(CheckReservation(tokens_only, UsdTokens(99.0, std::nullopt)).has_value());
}

TEST(BudgetTest, FanOutCapsTheParentsChildrenAndEveryAncestorsDescendants) {
  Budget children;
  children.max_children = 2;
  Budget descendants;
  descendants.max_descendants = 4;
  std::vector<FanOutLink> above{{"j_parent", children, JobUsage{0, 0, 1, 1}},
                                {"j_mid", std::nullopt, JobUsage{0, 0, 2, 1}},
                                {"j_root", descendants, JobUsage{0, 0, 3, 1}}};
  EXPECT_FALSE(CheckFanOut(above).has_value());
  above[0].usage.children = 2;
  std::optional<BudgetRefusal> r = CheckFanOut(above);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->limit, "max_children");
  EXPECT_EQ(r->job_id, "j_parent");
  EXPECT_DOUBLE_EQ(r->left, 0);
  above[0].usage.children = 1;
  above[2].usage.descendants = 4;
  r = CheckFanOut(above);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->limit, "max_descendants");
  EXPECT_EQ(r->job_id, "j_root");
  // max_children binds only the parent: a grandparent's is not about this job.
  Budget grand_children;
  grand_children.max_children = 0;
  EXPECT_FALSE(CheckFanOut({{"j_parent", std::nullopt, JobUsage{}},
                            {"j_grand", grand_children, JobUsage{0, 0, 5, 1}}})
                   .has_value());
}

TEST(BudgetTest, SpentWhenUsageReachesALimit) {
  EXPECT_FALSE(SpentLimit(UsdTokens(1.0, 100), JobUsage{0.99, 99, 0, 0}).has_value());
  EXPECT_EQ(SpentLimit(UsdTokens(1.0, 100), JobUsage{1.0, 0, 0, 0}), "usd");
  EXPECT_EQ(SpentLimit(UsdTokens(1.0, 100), JobUsage{0.1, 100, 0, 0}), "tokens");
  EXPECT_FALSE(SpentLimit(Budget{}, JobUsage{1e9, 1'000'000'000, 0, 0}).has_value());
  EXPECT_EQ(DescribeSpent("usd", UsdTokens(5.0, std::nullopt), JobUsage{5.0123, 0, 0, 0}),
            "budget spent: usd 5.0123 of 5.0000");
}

TEST(BudgetTest, ACorrectionDownwardsChargesNothing) {
  Charge c = ChargeOf(-0.02, 150);
  EXPECT_DOUBLE_EQ(c.usd, 0);
  EXPECT_EQ(c.tokens, 150);
  EXPECT_TRUE(ChargeOf(0, -3).empty());
  EXPECT_FALSE(ChargeOf(0.001, 0).empty());
}

}  // namespace
}  // namespace overseer::core
