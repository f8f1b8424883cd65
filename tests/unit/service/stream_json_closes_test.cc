// stream_json::Closes (the shape check of a line whose opening bytes already said what it is)
// against its contract read a byte at a time, on samples, cuts, changes and escape runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "service/runtimes/stream_json.h"
#include "unit/service/stream_json_samples.h"

namespace overseer::service::stream_json {
namespace {

using testing::ClosesByHand;
using testing::EscapeLines;
using testing::Mutations;
using testing::SampleLines;

TEST(ClosesTest, AnswersAsTheByteByByteReadingOfItsContract) {
  int closed = 0;
  int open = 0;
  const auto expect_same = [&](std::string_view line, int watch) {
    const bool want = ClosesByHand(line, 1, 1, watch, {"type", "event"});
    EXPECT_EQ(Closes(line, 1, 1, watch, {"type", "event"}), want)
        << "watch " << watch << ": " << line.substr(0, 300);
    (want ? closed : open) += 1;
  };
  for (const std::string& line : Mutations(SampleLines(), 3)) {
    for (int watch : {0, 1, 2}) expect_same(line, watch);
  }
  // Backslashes and quotes at every offset of a block, and their cuts.
  for (const std::string& line : EscapeLines()) {
    for (size_t n = 0; n <= line.size(); n += 5) {
      expect_same(std::string_view(line).substr(0, n), 2);
    }
    expect_same(line, 2);
  }
  EXPECT_GT(closed, 10000);
  EXPECT_GT(open, 10000);
}

TEST(ClosesTest, EveryCutOfALineAndTwoObjectsOnOneLineDoNotClose) {
  std::vector<std::string> lines = SampleLines();
  for (const std::string& l : EscapeLines()) lines.push_back(l);
  int whole = 0;
  for (const std::string& line : lines) {
    if (line.size() > 5000 || !line.starts_with('{') || !Closes(line, 1, 1, 0, {})) continue;
    ++whole;
    for (size_t n = 0; n < line.size() - (line.ends_with('\r') ? 2 : 1); ++n) {
      ASSERT_FALSE(Closes(std::string_view(line).substr(0, n), 1, 1, 0, {}))
          << n << ": " << line.substr(0, 300);
    }
    EXPECT_FALSE(Closes(line + "{}", 1, 1, 0, {})) << line.substr(0, 300);
    EXPECT_FALSE(Closes(line + "x", 1, 1, 0, {})) << line.substr(0, 300);
    EXPECT_FALSE(Closes(line + " ", 1, 1, 0, {})) << line.substr(0, 300);
  }
  EXPECT_GT(whole, 500);
}

TEST(ClosesTest, ChecksTheStructureNotTheTokens) {
  // Closed: the brackets and strings are whole, whatever lies between them.
  for (const char* line : {R"({"a":1})", R"({"a":[1,{"b":"c"}],"d":"\"}{]["})", "{\"a\":1}\r",
                           R"({"a",})", R"({"a":01,"b":tru})", R"({"a":"\q"})", "{}"}) {
    EXPECT_TRUE(Closes(line, 1, 1, 0, {})) << line;
  }
  // Not closed.
  for (const std::string& line : std::vector<std::string>{
           R"({"a":1)", R"({"a":"1})", R"({"a":[1})", R"({"a":{1]})", R"({"a":1}})", R"({"a":1}x)",
           R"({"a":1} )", R"({"a":1}{})", R"({\"a":1})", "{\"a\":\"\t\"}", "{\"a\":\"\xc3\xa9\"}",
           "{\"a\":1}\n", "{\"a\":" + std::string(31, '[') + std::string(31, ']') + "}",
           "{\"k\":\"" + std::string(kLineMaxBytes, 'v') + "\"}"}) {
    EXPECT_FALSE(Closes(line, 1, 1, 0, {})) << line.substr(0, 100);
  }
  EXPECT_TRUE(Closes("{\"a\":" + std::string(30, '[') + std::string(30, ']') + "}", 1, 1, 0, {}));
  // Watched names and escapes near the top.
  const std::string line = R"({"type":"x","e":{"k":"v"},"n":{"type":1,"s":"\n"}})";
  EXPECT_TRUE(Closes(line, 1, 1, 0, {"type"}));
  EXPECT_FALSE(Closes(line, 1, 1, 1, {"type"}));   // "type" at the top
  EXPECT_FALSE(Closes(line, 12, 1, 2, {"type"}));  // "type" one down
  EXPECT_FALSE(Closes(line, 12, 1, 2, {}));        // "\n" one down
  EXPECT_TRUE(Closes(line, 12, 1, 1, {"type"}));   // from after the first "type"
  EXPECT_FALSE(Closes(line, 12, 1, 2, {"k"}));     // "k" one down
}

}  // namespace
}  // namespace overseer::service::stream_json
