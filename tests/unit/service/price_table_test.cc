#include "service/runtimes/price_table.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace overseer::service {
namespace {

TEST(PriceTableTest, TheBuiltInTableParsesAndPricesKnownModels) {
  const PriceTable& t = PriceTable::BuiltIn();
  ASSERT_TRUE(PriceTable::FromJson(kBuiltInPricesJson).ok());
  EXPECT_GE(t.size(), 20u);
  EXPECT_TRUE(t.has_default());

  PriceTable::Lookup opus = t.Find("claude-opus-4-8[1m]");  // claude's init model name
  EXPECT_TRUE(opus.found);
  EXPECT_EQ(opus.price.input, 5);
  EXPECT_EQ(opus.price.cached_input, 0.5);
  EXPECT_EQ(opus.price.cache_write, 6.25);
  EXPECT_EQ(opus.price.output, 25);
  EXPECT_EQ(t.Find("claude-opus-4-20250514").price.output, 75);  // Opus 4.0 by prefix
  EXPECT_EQ(t.Find("claude-sonnet-4-5-20250929").price.input, 3);
  PriceTable::Lookup mini = t.Find("GPT-5-mini-2025-08-07");  // case folded, dated
  EXPECT_TRUE(mini.found);
  EXPECT_EQ(mini.price.input, 0.25);
  EXPECT_EQ(mini.price.cached_input, 0.025);
  EXPECT_EQ(mini.price.cache_write, 0.25);  // defaults to input
  EXPECT_EQ(t.Find("gpt-5").price.output, 10);
  // codex 0.171.0's default model has no published price: the default rate, flagged.
  PriceTable::Lookup sol = t.Find("gpt-6.2-sol");
  EXPECT_FALSE(sol.found);
  EXPECT_EQ(sol.price.input, 5);
  EXPECT_EQ(sol.price.output, 25);
  EXPECT_FALSE(t.Find("").found);
  EXPECT_FALSE(t.Find("-").found);
  EXPECT_FALSE(t.Find("[1m]").found);
}

TEST(PriceTableTest, CostIsPerMillionTokensOfEachKind) {
  ModelPrice p{1.25, 0.125, 2.5, 10};
  UsageDelta t;
  t.input_tokens = 1'000'000;
  t.cache_read_tokens = 2'000'000;
  t.cache_write_tokens = 400'000;
  t.output_tokens = 100'000;
  t.reasoning_tokens = 50'000;  // part of output: not priced again
  EXPECT_DOUBLE_EQ(PriceTable::Cost(p, t), 1.25 + 0.25 + 1.0 + 1.0);
}

TEST(PriceTableTest, AnOperatorTableReplacesTheBuiltInOne) {
  Result<PriceTable> t = PriceTable::FromJson(R"({
    "_comment": "ours",
    "models": {"My-Model": {"input": 2, "output": 4, "_note": "gateway"}}
  })");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->size(), 1u);
  EXPECT_FALSE(t->has_default());
  PriceTable::Lookup m = t->Find("my-model");
  EXPECT_TRUE(m.found);
  EXPECT_EQ(m.price.cached_input, 2);
  // No default: an unknown model costs 0, and the lookup says so.
  PriceTable::Lookup unknown = t->Find("gpt-5");
  EXPECT_FALSE(unknown.found);
  EXPECT_EQ(unknown.price.input, 0);
  EXPECT_EQ(unknown.price.output, 0);
}

TEST(PriceTableTest, ABadTableNamesTheField) {
  struct Case {
    const char* json;
    const char* field;
  } cases[] = {
      {"not json", "document"},
      {"[]", "document"},
      {R"({"modles":{}})", "modles"},
      {R"({"models":[]})", "models"},
      {R"({"models":{"m":{"input":1}}})", "models.m.output"},
      {R"({"models":{"m":{"input":-1,"output":1}}})", "models.m.input"},
      {R"({"models":{"m":{"input":"1","output":1}}})", "models.m.input"},
      {R"({"models":{"m":{"input":1,"output":1,"cached":1}}})", "models.m.cached"},
      {R"({"models":{"m":{"input":1,"output":1e300}}})", "models.m.output"},
      {R"({"models":{"m":7}})", "models.m"},
      {R"({"models":{"":{"input":1,"output":1}}})", "models."},
      {R"({"default":{"output":1}})", "default.input"},
  };
  for (const Case& c : cases) {
    Result<PriceTable> t = PriceTable::FromJson(c.json);
    ASSERT_FALSE(t.ok()) << c.json;
    EXPECT_EQ(t.error().code, ErrorCode::kInvalidRequest) << c.json;
    EXPECT_NE(t.error().message.find(std::string("price table: ") + c.field + ":"),
              std::string::npos)
        << c.json << " -> " << t.error().message;
  }
}

TEST(PriceTableTest, LoadFileReadsAFileAndRefusesMissingOrHugeOnes) {
  std::string dir = ::testing::TempDir();
  std::string path = dir + "/prices_test.json";
  {
    std::ofstream out(path);
    out << R"({"default":{"input":1,"output":2},"models":{"m":{"input":3,"output":4}}})";
  }
  Result<PriceTable> t = PriceTable::LoadFile(path);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->Find("m").price.output, 4);
  EXPECT_EQ(t->Find("other").price.output, 2);

  EXPECT_EQ(PriceTable::LoadFile(dir + "/no_such_prices.json").error().code, ErrorCode::kNotFound);
  {
    std::ofstream out(path);
    out << R"({"_pad":")" << std::string(PriceTable::kFileMaxBytes, 'x') << R"("})";
  }
  Result<PriceTable> huge = PriceTable::LoadFile(path);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code, ErrorCode::kInvalidRequest);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace overseer::service
