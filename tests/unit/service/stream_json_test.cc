// stream_json: Scan (the hand-written pass that reads chosen fields, skims the rest and builds
// nothing) and LineParser (parsing line after line into reused memory) against
// boost::json::parse, the reference they must match.
#include "service/runtimes/stream_json.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "unit/service/stream_json_samples.h"

namespace overseer::service::stream_json {
namespace {

using testing::AllPaths;
using testing::FixtureLines;
using testing::Mutations;
using testing::ParsesToObject;
using testing::Recorder;
using testing::SampleLines;
namespace json = boost::json;

TEST(ScanTest, VouchesForEveryLineTheAgentsWrite) {
  for (const char* name :
       {"claude_tool_bash.jsonl", "claude_permission_denied.jsonl", "claude_api_error_500.jsonl",
        "claude_text.jsonl", "claude_resume.jsonl", "codex_tool_exec.jsonl"}) {
    for (const std::string& line : FixtureLines(name)) {
      Recorder r;
      EXPECT_EQ(Scan(line, AllPaths(), r), ScanResult::kObject) << name << ": " << line;
    }
  }
}

// The value at a dotted path (no arrays) as a parse reads it, or nullptr.
const json::value* At(const json::object& o, std::string_view path) {
  const json::object* at = &o;
  for (;;) {
    const size_t dot = path.find('.');
    const json::value* v = at->if_contains(path.substr(0, dot));
    if (v == nullptr || dot == std::string_view::npos) return v;
    at = v->if_object();
    if (at == nullptr) return nullptr;
    path.remove_prefix(dot + 1);
  }
}

// What Scan told of field `field` (path `path`) is what a parse reads there.
void ExpectSameAsParse(const std::string& line, const json::object& o, const Recorder& r, int field,
                       std::string_view path) {
  const json::value* want = At(o, path);
  auto it = r.seen.find(field);
  if (want == nullptr) {
    EXPECT_TRUE(it == r.seen.end()) << path << " in " << line;
    return;
  }
  ASSERT_TRUE(it != r.seen.end() && it->second.size() == 1) << path << " in " << line;
  const ScanValue& v = it->second.front();
  using Kind = ScanValue::Kind;
  switch (v.kind) {
    case Kind::kString: {
      ASSERT_TRUE(want->is_string()) << path << " in " << line;
      std::string text(v.text);
      if (v.escaped) Unescape(v.text, text);
      EXPECT_EQ(text, String(*want)) << path << " in " << line;
      break;
    }
    case Kind::kNumber: {
      ASSERT_TRUE(want->is_number()) << path << " in " << line;
      json::object holder{{"n", *want}};
      if (std::optional<int64_t> n = ScanCount(v)) {
        EXPECT_EQ(*n, Count(holder, "n")) << path << " in " << line;
      }
      break;
    }
    case Kind::kObject:
      EXPECT_TRUE(want->is_object()) << path << " in " << line;
      break;
    case Kind::kArray:
      EXPECT_TRUE(want->is_array()) << path << " in " << line;
      break;
    case Kind::kTrue:
      EXPECT_TRUE(want->is_bool() && want->get_bool()) << path << " in " << line;
      break;
    case Kind::kFalse:
      EXPECT_TRUE(want->is_bool() && !want->get_bool()) << path << " in " << line;
      break;
    case Kind::kNull:
      EXPECT_TRUE(want->is_null()) << path << " in " << line;
      break;
  }
}

TEST(ScanTest, ReportsWhatAParseReadsAtEachPath) {
  const std::vector<std::pair<int, std::string_view>> plain = {{0, "type"},
                                                               {1, "subtype"},
                                                               {2, "event.type"},
                                                               {3, "event.usage.output_tokens"},
                                                               {4, "message.id"},
                                                               {5, "message.usage"},
                                                               {6, "message.usage.input_tokens"},
                                                               {8, "usage.input_tokens"},
                                                               {9, "num_turns"},
                                                               {10, "is_error"}};
  std::vector<std::string> lines = Mutations(SampleLines(), 11);
  for (
      const std::string& l : std::vector<std::string>{
          // Escapes in the values read, decoded as a parse decodes them.
          R"({"type":"a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20ac\u0000z","message":{"id":"\u006d"}})",
          // The same names elsewhere: inside strings, deeper objects, arrays.
          R"({"x":{"type":"no","event":{"type":"no"}},"s":"\"type\":\"no\"","a":[{"type":"no"}],"type":"yes"})",
          R"({"message":{"x":{"id":"no"},"usage":{"u":{"input_tokens":5}},"id":"yes"}})",
          R"({"event":[{"type":"no"}],"message":"no"})",
          R"({"event":{"message":{"usage":{"output_tokens":9}}},"usage":7})",
          // Numbers of every shape.
          R"({"usage":{"input_tokens":-0},"num_turns":1125899906842624})",
          R"({"usage":{"input_tokens":1125899906842625},"num_turns":99999999999999999999999})",
          R"({"usage":{"input_tokens":-12},"num_turns":1.0e2})",
          R"({"usage":{"input_tokens":"12"},"num_turns":null,"is_error":true})",
          R"({"usage":{"input_tokens":999999999999999999},"num_turns":1000000000000000000})",
          R"({"usage":{"input_tokens":0.5},"num_turns":1E+3,"is_error":false})",
      }) {
    lines.push_back(l);
  }
  int checked = 0;
  for (const std::string& line : lines) {
    Recorder r;
    // A line a parse rejects: VouchesForALineAParseRejectsOnlyWhereNothingIsRead.
    if (Scan(line, AllPaths(), r) != ScanResult::kObject || !ParsesToObject(line)) continue;
    const json::object o = json::parse(line).as_object();
    for (const auto& [field, path] : plain) ExpectSameAsParse(line, o, r, field, path);
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

TEST(ScanTest, ReportsEachArrayElementsFieldsInOrder) {
  Recorder r;
  ASSERT_EQ(Scan(R"({"message":{"content":[{"text":"a"},"s",{"type":"x"},{"text":"b\n"}]}})",
                 AllPaths(), r),
            ScanResult::kObject);
  ASSERT_EQ(r.seen[7].size(), 2u);
  EXPECT_EQ(r.seen[7][0].text, "a");
  EXPECT_EQ(r.seen[7][1].text, R"(b\n)");
  EXPECT_TRUE(r.seen[7][1].escaped);
}

TEST(ScanTest, DoesNotVouchForWhatItCannotReadAsAParseDoes) {
  for (const std::string& line : std::vector<std::string>{
           // Duplicate keys on a path (a parse keeps the last one).
           R"({"type":"a","type":"b"})",
           R"({"message":{"id":"a"},"message":{"id":"b"}})",
           R"({"message":{"content":[{"text":"a","text":"b"}]}})",
           R"({"event":{"type":"a","type":"b"}})",
           R"({"event":1,"event":{"type":"b"}})",
           // A key on a path written with escapes.
           R"({"\u0074ype":"a"})",
           R"({"event":{"typ\u0065":"a"}})",
           // What json::parse fails on or Scan does not decode.
           R"({"type":"\ud83d\ude00"})",
           R"({"type":"\udc00"})",
           R"({"type":1e99999})",
           R"({"x":)" + std::string(31, '[') + std::string(31, ']') + "}",
           R"({"x":"a)" + std::string("\n") + R"("})",
           "{\"x\":\"\xc3\x28\"}",
           "{\"x\":\"\xe0\x80\xaf\"}",
           "{\"x\":\"\xed\xa0\x80\"}",
           "{\"x\":\"\xf4\x90\x80\x80\"}",
           R"([{"type":"a"}])",
           R"({"type":"a"} {})",
           "",
       }) {
    Recorder r;
    EXPECT_EQ(Scan(line, AllPaths(), r), ScanResult::kUnsure) << line;
  }
  // Off the paths, duplicates and escaped keys are a parse's business only.
  for (const std::string& line : std::vector<std::string>{
           R"({"o":{"x":1,"x":2,"\u0078":3},"event":{"index":1,"index":2,"delta":{"\u0069":3}}})",
           R"({"message":{"content":[{"input":{"k":1,"k":2,"\u006b":3}}]}})",
           R"({"x":"\ud83d\ude00"})",
           "{\"x\":\"\xf0\x9f\x98\x80 \xe2\x82\xac \xc3\xa9\"}",
           R"({"x":)" + std::string(30, '[') + std::string(30, ']') + "}",
           " \t{\"type\" : \"a\" ,\n\"x\":[ 1 , 2 ] }\r",
       }) {
    Recorder r;
    const ScanResult got = Scan(line, AllPaths(), r);
    EXPECT_EQ(got, ScanResult::kObject) << line;  // a surrogate pair unread: skimmed
    EXPECT_TRUE(ParsesToObject(line)) << line;
  }
}

TEST(ScanTest, ALineOverTheCapIsNotLookedAt) {
  std::string huge = R"({"type":"x","pad":")" + std::string(kLineMaxBytes, 'p') + R"("})";
  Recorder r;
  EXPECT_EQ(Scan(huge, AllPaths(), r), ScanResult::kUnsure);
  EXPECT_TRUE(r.seen.empty());
}

TEST(ScanTest, ASinkThatStopsMakesTheLineUnsure) {
  class Stopper final : public ScanSink {
   public:
    bool OnValue(int, const ScanValue&) override { return false; }
  } stop;
  EXPECT_EQ(Scan(R"({"type":"a"})", AllPaths(), stop), ScanResult::kUnsure);
  EXPECT_EQ(Scan(R"({"other":"a"})", AllPaths(), stop), ScanResult::kObject);
}

TEST(ScanTest, CountsReadAsCountReadsThem) {
  auto count = [](std::string_view text) {
    ScanValue v;
    v.kind = ScanValue::Kind::kNumber;
    v.text = text;
    return ScanCount(v);
  };
  EXPECT_EQ(count("0"), 0);
  EXPECT_EQ(count("42"), 42);
  EXPECT_EQ(count("-3"), 0);
  EXPECT_EQ(count("1125899906842624"), int64_t{1} << 50);
  EXPECT_EQ(count("1125899906842625"), 0);
  EXPECT_EQ(count("123456789012345678901234567890"), 0);
  EXPECT_EQ(count("999999999999999999"), 0);
  EXPECT_EQ(count("9999999999999999999"), 0);
  EXPECT_EQ(count("99999999999999999999999"), 0);
  EXPECT_EQ(count("-0"), 0);
  EXPECT_EQ(count("12345678901234567890.5"), std::nullopt);
  EXPECT_EQ(count("-1E3"), std::nullopt);
  EXPECT_EQ(count("1.0"), std::nullopt);
  EXPECT_EQ(count("1e3"), std::nullopt);
  ScanValue s;
  s.kind = ScanValue::Kind::kString;
  s.text = "12";
  EXPECT_EQ(ScanCount(s), 0);
}

// The reference LineParser must match: json::parse of each line, counted as it counts.
const json::object* ParseLine(std::string_view line, json::value& out, AgentUsage& u) {
  ++u.lines;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kLineMaxBytes) {
    ++u.oversized_lines;
    ++u.malformed_lines;
    return nullptr;
  }
  boost::system::error_code ec;
  out = json::parse(line, ec);
  if (ec || !out.is_object()) {
    ++u.malformed_lines;
    return nullptr;
  }
  return &out.get_object();
}

TEST(LineParserTest, GivesWhatAParseGivesLineAfterLine) {
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
