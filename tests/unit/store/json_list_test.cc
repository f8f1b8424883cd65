#include "store/json_list.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace overseer::store {
namespace {

using ::testing::ElementsAre;

TEST(JsonListTest, RoundTripsAwkwardStrings) {
  const std::vector<std::string> items = {"j_1", "", "quote\"back\\slash", "line\nbreak\x01",
                                          "caf\xc3\xa9"};
  const std::string text = EncodeJsonStringList(items);
  EXPECT_EQ(EncodeJsonStringList({"a", "b"}), R"(["a","b"])");
  EXPECT_EQ(EncodeJsonStringList({}), "[]");
  Result<std::vector<std::string>> back = DecodeJsonStringList(text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, items);
}

TEST(JsonListTest, DecodesAnyJsonStringArray) {
  Result<std::vector<std::string>> v =
      DecodeJsonStringList(" [ \"a\" , \"\\u00e9\\ud83d\\ude00\\/\" ] ");
  ASSERT_TRUE(v.ok());
  EXPECT_THAT(*v, ElementsAre("a", "\xc3\xa9\xf0\x9f\x98\x80/"));
  Result<std::vector<std::string>> empty = DecodeJsonStringList("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(JsonListTest, RejectsMalformed) {
  for (const char* bad : {"[", "[\"a\"", "[\"a\",]", "[1]", "{}", "[\"a\"] x", "[\"\\x\"]",
                          "[\"\\ud800\"]", "[\"\\u12\"]", "[\"a\nb\"]"}) {
    Result<std::vector<std::string>> v = DecodeJsonStringList(bad);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(v.error().code, ErrorCode::kInternal);
  }
}

}  // namespace
}  // namespace overseer::store
