// stream_json: Skim (the validating scan that builds nothing) and LineParser (parsing line
// after line into reused memory) against boost::json::parse, the reference they must match.
#include "service/runtimes/stream_json.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <string>
#include <utility>
#include <vector>

#include "unit/service/agent_fixtures.h"

namespace overseer::service::stream_json {
namespace {

using State = SkimField::State;
using testing::FixtureLines;

bool ParsesToObject(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(line, ec);
  return !ec && v.is_object();
}

// Lines of every kind: each fixture's, and broken, odd or deep ones.
std::vector<std::string> SampleLines() {
  std::vector<std::string> lines;
  for (const char* name :
       {"claude_tool_bash.jsonl", "claude_permission_denied.jsonl", "claude_api_error_500.jsonl",
        "codex_tool_exec.jsonl", "codex_unknown_model_tool.jsonl"}) {
    for (const std::string& l : FixtureLines(name)) lines.push_back(l);
  }
  for (const std::string& l : std::vector<std::string>{
           "",
           " ",
           "{}",
           "[]",
           "[1,2]",
           "\"s\"",
           "42",
           "null",
           "{} ",
           " {}",
           "{}\r",
           "{}\r\r",
           "{}{}",
           "{\"a\":1,}",
           "{\"a\":01}",
           "{\"a\":1e400}",
           "{\"a\":-0.0e-7}",
           "{\"a\":\"\\ud800\"}",
           "{\"a\":\"\xed\xa0\x80\"}",
           "{\"a\":\"\xf4\x90\x80\x80\"}",
           "{\"a\":\"\\u00e9\\n\\\"\"}",
           "{\"a\":/*c*/1}",
           "{\"a\":tru}",
           "{\"a\" 1}",
           std::string(32, '[') + std::string(32, ']'),
           "{\"a\":" + std::string(31, '[') + std::string(31, ']') + "}",
           "{\"a\":" + std::string(32, '[') + std::string(32, ']') + "}",
           "{\"k\":\"" + std::string(100000, 'v') + "\"}",
       }) {
    lines.push_back(l);
  }
  return lines;
}

TEST(SkimTest, AcceptsExactlyWhatAParseAcceptsAsAnObject) {
  for (const std::string& line : SampleLines()) {
    EXPECT_EQ(Skim(line).object, ParsesToObject(line)) << line.substr(0, 120);
    // Every cut of it too.
    for (size_t n = 0; n < line.size() && n<2000; n += line.size()> 600 ? 7 : 1) {
      std::string_view cut(line.data(), n);
      ASSERT_EQ(Skim(cut).object, ParsesToObject(cut)) << cut;
    }
  }
}

TEST(SkimTest, ReadsTheTopLevelTypeSubtypeAndTheEventsType) {
  Skimmed k =
      Skim(R"({"x":{"type":"deep","event":{"type":"deeper"}},"type":"stream_event","subtype":"",)"
           R"("event":{"index":0,"delta":{"type":"text_delta"},"type":"content_block_delta"}})");
  ASSERT_TRUE(k.object);
  EXPECT_EQ(k.type.state(), State::kString);
  EXPECT_EQ(k.type.text(), "stream_event");
  EXPECT_TRUE(k.subtype.Is(""));
  EXPECT_TRUE(k.event_type.Is("content_block_delta"));

  k = Skim(R"({"\u0074ype":"a\u005fb","subtype":"x\"y"})");  // escapes decoded
  EXPECT_TRUE(k.type.Is("a_b"));
  EXPECT_TRUE(k.subtype.Is("x\"y"));
  EXPECT_EQ(k.event_type.state(), State::kAbsent);

  k = Skim(R"({"other":1})");
  EXPECT_TRUE(k.object);
  EXPECT_EQ(k.type.state(), State::kAbsent);
  EXPECT_EQ(k.type.text(), "");
}

TEST(SkimTest, DuplicateNonStringOrLongFieldsReadAsOther) {
  EXPECT_EQ(Skim(R"({"type":"a","type":"a"})").type.state(), State::kOther);
  EXPECT_EQ(Skim(R"({"type":"a","\u0074ype":"b"})").type.state(), State::kOther);
  EXPECT_EQ(Skim(R"({"type":1})").type.state(), State::kOther);
  EXPECT_EQ(Skim(R"({"type":null})").type.state(), State::kOther);
  EXPECT_EQ(Skim(R"({"type":{"type":"x"}})").type.state(), State::kOther);
  EXPECT_EQ(Skim(R"({"type":["x"]})").type.state(), State::kOther);
  EXPECT_TRUE(Skim(R"({"type":")" + std::string(32, 'a') + R"("})").type.Is(std::string(32, 'a')));
  EXPECT_EQ(Skim(R"({"type":")" + std::string(33, 'a') + R"("})").type.state(), State::kOther);
  // The event: only the first "event" object's own "type"; a second "event" makes it Other.
  EXPECT_EQ(Skim(R"({"event":{"type":"a"},"event":{"type":"a"}})").event_type.state(),
            State::kOther);
  EXPECT_EQ(Skim(R"({"event":1,"event":{"type":"a"}})").event_type.state(), State::kOther);
  EXPECT_EQ(Skim(R"({"event":{"type":"a","type":"b"}})").event_type.state(), State::kOther);
  EXPECT_EQ(Skim(R"({"event":"ping"})").event_type.state(), State::kAbsent);
  EXPECT_EQ(Skim(R"({"event":[{"type":"a"}]})").event_type.state(), State::kAbsent);
  EXPECT_EQ(Skim(R"({"event":{"x":{"type":"a"}}})").event_type.state(), State::kAbsent);
  // Not an object, or broken: nothing.
  Skimmed broken = Skim(R"({"type":"a","event":{"type":"b"})");
  EXPECT_FALSE(broken.object);
  EXPECT_EQ(broken.type.state(), State::kAbsent);
  EXPECT_FALSE(Skim(R"([{"type":"a"}])").object);
}

TEST(SkimTest, ALineOverTheCapIsNotLookedAt) {
  std::string huge = R"({"type":"x","pad":")" + std::string(kLineMaxBytes, 'p') + R"("})";
  EXPECT_FALSE(Skim(huge).object);
}

TEST(LineParserTest, GivesWhatParseLineGivesLineAfterLine) {
  LineParser parser;
  AgentUsage mine;
  AgentUsage reference;
  std::vector<std::string> lines = SampleLines();
  // Long lines between short ones: the arena and the stack grow and are given back.
  std::vector<std::string> more;
  for (int i = 0; i < 3; ++i) {
    for (const std::string& l : lines) more.push_back(l);
    more.push_back(R"({"big":[)" + std::string(50000, '1').insert(1, ",") + "]}");
    std::string many = R"({"a":[)";
    for (int j = 0; j < 20000; ++j) many += R"({"k":"v"},)";
    many += "0]}";
    more.push_back(many);
  }
  more.push_back(R"({"result":")" + std::string(kLineMaxBytes, 'x') + R"("})");  // oversized
  for (const std::string& line : more) {
    boost::json::value doc;
    const boost::json::object* want = ParseLine(line, doc, reference);
    const boost::json::object* got = parser.Parse(line, mine);
    ASSERT_EQ(got == nullptr, want == nullptr) << line.substr(0, 120);
    if (got != nullptr) {
      EXPECT_EQ(boost::json::serialize(*got), boost::json::serialize(*want));
    }
  }
  EXPECT_EQ(mine.lines, reference.lines);
  EXPECT_EQ(mine.malformed_lines, reference.malformed_lines);
  EXPECT_EQ(mine.oversized_lines, reference.oversized_lines);
  EXPECT_EQ(mine.oversized_lines, 1);
  EXPECT_GT(mine.malformed_lines, 10);
}

TEST(LineParserTest, TheObjectLastsUntilTheNextLineAndTheParserMoves) {
  LineParser parser;
  AgentUsage u;
  const boost::json::object* o = parser.Parse(R"({"type":"one","n":[1,2,3]})", u);
  ASSERT_NE(o, nullptr);
  LineParser moved(std::move(parser));  // the document moves with it
  EXPECT_EQ(String(*o, "type"), "one");
  EXPECT_EQ(Array(*o, "n")->size(), 3u);
  o = moved.Parse(R"({"type":"two"})", u);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(String(*o, "type"), "two");
  EXPECT_EQ(moved.Parse("{broken", u), nullptr);
  EXPECT_EQ(u.lines, 3);
  EXPECT_EQ(u.malformed_lines, 1);
}

}  // namespace
}  // namespace overseer::service::stream_json
