#include "service/quota_book.h"

#include <gtest/gtest.h>

namespace overseer::service {
namespace {

TEST(QuotaBookTest, DefaultsApplyPerDepthAndRepeatTheLastOne) {
  QuotaBook b({10, 8, 5}, 5);
  EXPECT_EQ(b.max_depth(), 5);
  EXPECT_EQ(b.Limit("ws", 0), 10);
  EXPECT_EQ(b.Limit("ws", 2), 5);
  EXPECT_EQ(b.Limit("ws", 5), 5);
  EXPECT_EQ(b.Limit("ws", 6), 0);
  EXPECT_EQ(b.Limit("ws", -1), 0);
  EXPECT_EQ(QuotaBook({}, 0).Limit("ws", 0), 1);
}

TEST(QuotaBookTest, TakeGiveAndFitsPerWorkspaceAndDepth) {
  QuotaBook b({2, 1}, 1);
  EXPECT_TRUE(b.Fits("a", 0, 2));
  EXPECT_FALSE(b.Fits("a", 0, 3));
  b.Take("a", 0, 2);
  EXPECT_FALSE(b.Fits("a", 0, 1));
  EXPECT_EQ(b.Available("a", 0), 0);
  EXPECT_TRUE(b.Fits("b", 0, 2));   // another workspace has its own slots
  EXPECT_TRUE(b.Fits("a", 1, 1));   // and another depth too
  EXPECT_FALSE(b.Fits("a", 2, 1));  // beyond max_depth nothing fits
  b.Give("a", 0, 1);
  EXPECT_EQ(b.Used("a", 0), 1);
  EXPECT_TRUE(b.Fits("a", 0, 1));
  b.Give("a", 0, 5);
  EXPECT_EQ(b.Used("a", 0), 0);  // never below zero
}

TEST(QuotaBookTest, OverridesAreOneWorkspacesAndTakeMayGoOverTheLimit) {
  QuotaBook b({2}, 1);
  b.SetLimit("a", 1, 0);
  EXPECT_EQ(b.Limit("a", 1), 0);
  EXPECT_EQ(b.Limit("a", 0), 2);
  EXPECT_EQ(b.Limit("b", 1), 2);
  EXPECT_FALSE(b.Fits("a", 1, 1));
  b.Take("a", 1, 3);  // found running at start: counted even over the limit
  EXPECT_EQ(b.Used("a", 1), 3);
  EXPECT_EQ(b.Available("a", 1), 0);
  b.SetLimit("a", 1, 5);
  EXPECT_EQ(b.Available("a", 1), 2);
}

}  // namespace
}  // namespace overseer::service
