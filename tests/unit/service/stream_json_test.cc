// stream_json: Scan (the hand-written validating pass that reads chosen fields and builds
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

#include "unit/service/agent_fixtures.h"

namespace overseer::service::stream_json {
namespace {

using testing::FixtureLines;
namespace json = boost::json;

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

// Every line Scan vouches for, a parse reads as an object: the lines, every cut of each, and
// each with one byte changed all along it.
std::vector<std::string> Mutations(const std::vector<std::string>& lines, size_t step) {
  std::vector<std::string> out;
  for (const std::string& line : lines) {
    if (line.size() > 5000) continue;
    out.push_back(line);
    for (size_t n = 0; n < line.size(); n += step) out.push_back(line.substr(0, n));
    for (size_t i = 0; i < line.size(); i += step) {
      for (char c : {'"', '}', ']', ',', ':', '\\', '1', '.', 'e', '-', ' ', 'x', '\x01', '\xc3',
                     '\xed', '\xff', '{', '['}) {
        std::string m = line;
        m[i] = c;
        out.push_back(m);
      }
    }
  }
  return out;
}

// A sink that keeps what it was told, field by field (the last value of each).
class Recorder final : public ScanSink {
 public:
  bool OnValue(int field, const ScanValue& v) override {
    seen[field].push_back(v);
    return true;
  }
  std::map<int, std::vector<ScanValue>> seen;
};

const ScanPaths& AllPaths() {
  static const ScanPaths paths{"type",
                               "subtype",
                               "event.type",
                               "event.usage.output_tokens",
                               "message.id",
                               "message.usage",
                               "message.usage.input_tokens",
                               "message.content[].text",
                               "usage.input_tokens",
                               "num_turns",
                               "is_error"};
  return paths;
}

TEST(ScanTest, NeverVouchesForALineAParseRejects) {
  int vouched = 0;
  int rejected = 0;
  for (const std::string& line : Mutations(SampleLines(), 9)) {
    Recorder r;
    if (Scan(line, AllPaths(), r) == ScanResult::kObject) {
      ASSERT_TRUE(ParsesToObject(line)) << line.substr(0, 300);
      ++vouched;
    } else {
      rejected += !ParsesToObject(line);
    }
  }
  EXPECT_GT(vouched, 10000);
  EXPECT_GT(rejected, 10000);
}

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
    if (Scan(line, AllPaths(), r) != ScanResult::kObject) continue;
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
           R"({"x":"\udc00"})",
           R"({"x":1e99999})",
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
           R"({"x":"\ud83d\ude00"})" /* a pair: a parse decodes it, Scan stays out */,
           "{\"x\":\"\xf0\x9f\x98\x80 \xe2\x82\xac \xc3\xa9\"}",
           R"({"x":)" + std::string(30, '[') + std::string(30, ']') + "}",
           " \t{\"type\" : \"a\" ,\n\"x\":[ 1 , 2 ] }\r",
       }) {
    Recorder r;
    const ScanResult got = Scan(line, AllPaths(), r);
    if (line.find("ud83d") != std::string::npos) {
      EXPECT_EQ(got, ScanResult::kUnsure) << line;  // surrogates anywhere: the parse decides
    } else {
      EXPECT_EQ(got, ScanResult::kObject) << line;
    }
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

// --- Closes: the shape of a line whose opening bytes already said what it is ---

// Closes as its header says it, a byte at a time.
bool ClosesByHand(std::string_view line, size_t from, int depth, int watch_depth,
                  const std::vector<std::string_view>& watched) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kLineMaxBytes || from > line.size()) return false;
  std::string open(static_cast<size_t>(depth), '{');
  bool in_string = false;
  size_t start = 0;
  size_t string_depth = 0;
  for (size_t i = from; i < line.size(); ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c < 0x20 || c > 0x7f) return false;
    if (in_string) {
      if (c == '\\') {
        if (string_depth <= static_cast<size_t>(watch_depth)) return false;
        ++i;  // the escaped byte, whatever it is (but not a control or non-ASCII byte)
        if (i < line.size() && (static_cast<unsigned char>(line[i]) < 0x20 ||
                                static_cast<unsigned char>(line[i]) > 0x7f)) {
          return false;
        }
      } else if (c == '"') {
        in_string = false;
        if (string_depth <= static_cast<size_t>(watch_depth) &&
            std::find(watched.begin(), watched.end(), line.substr(start, i - start)) !=
                watched.end()) {
          return false;
        }
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      start = i + 1;
      string_depth = open.size();
    } else if (c == '\\') {
      return false;
    } else if (c == '{' || c == '[') {
      if (open.size() >= 31) return false;
      open += static_cast<char>(c);
    } else if (c == '}' || c == ']') {
      if (open.back() != (c == '}' ? '{' : '[')) return false;
      open.pop_back();
      if (open.empty()) return i + 1 == line.size();
    }
  }
  return false;
}

// Lines with runs of backslashes and quotes at every offset across the 64-byte blocks Closes
// reads.
std::vector<std::string> EscapeLines() {
  std::vector<std::string> lines;
  for (size_t k = 0; k < 140; ++k) {
    for (const char* run : {"\\\\", "\\\"", "\\\\\\\\", "\\\\\\\"", "\\\\\\\\\\\"", "\\u0041", "\"",
                            "\"}", "\"]", "{", "[{\"type\":\"x\"}]"}) {
      lines.push_back("{\"a\":\"" + std::string(k, 'x') + run + "\",\"b\":[{\"c\":\"d\"}]}");
      lines.push_back("{\"" + std::string(k, 'y') + "\":{\"t\":\"" + run + "\"},\"type\":1}");
    }
  }
  return lines;
}

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
