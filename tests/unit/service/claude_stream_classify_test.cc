// ClaudeStream::Classify and the fast paths of Feed: the lines skipped by their opening bytes
// (Closes), those read from their Scan (skimming what is not read) and those parsed, against a
// stream that parses every line, on every fixture, hostile lines, cuts and one-byte changes.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "service/runtimes/claude_stream.h"
#include "unit/service/agent_fixtures.h"

namespace overseer::service {
namespace {

using testing::FixtureLines;

using LineClass = ClaudeStream::LineClass;

const std::vector<std::string>& ClaudeFixtures() {
  static const std::vector<std::string> names = {
      "claude_api_error_500.jsonl", "claude_freeze_thaw.jsonl",       "claude_max_budget.jsonl",
      "claude_max_turns.jsonl",     "claude_permission_denied.jsonl", "claude_resume.jsonl",
      "claude_stall_killed.jsonl",  "claude_stream_cut.jsonl",        "claude_text.jsonl",
      "claude_tool_bash.jsonl"};
  return names;
}

// What a line is, read with a full parse: "stream_event/<event type>", "system/<subtype>", or
// the type.
std::string KindOf(const std::string& line) {
  boost::json::object o = boost::json::parse(line).as_object();
  std::string kind(o.at("type").as_string());
  if (kind == "stream_event") kind += "/" + std::string(o.at("event").at("type").as_string());
  if (kind == "system") kind += "/" + std::string(o.at("subtype").as_string());
  return kind;
}

TEST(ClaudeStreamClassifyTest, EveryFixtureLineIsSkippedReadFromItsScanOrParsedAsItsKindSays) {
  const std::vector<std::string> skipped = {"stream_event/content_block_start",
                                            "stream_event/content_block_delta",
                                            "stream_event/content_block_stop",
                                            "stream_event/message_stop",
                                            "system/status",
                                            "user"};
  const std::vector<std::string> read = {"stream_event/message_start", "stream_event/message_delta",
                                         "assistant"};
  int skips = 0;
  int reads = 0;
  for (const std::string& name : ClaudeFixtures()) {
    for (const std::string& line : FixtureLines(name)) {
      const std::string kind = KindOf(line);
      const bool skip = std::find(skipped.begin(), skipped.end(), kind) != skipped.end();
      const bool scanned = std::find(read.begin(), read.end(), kind) != read.end();
      EXPECT_EQ(ClaudeStream::Classify(line), skip      ? LineClass::kSkip
                                              : scanned ? LineClass::kRead
                                                        : LineClass::kParse)
          << name << ": " << kind;
      skips += skip;
      reads += scanned;
    }
  }
  EXPECT_GT(skips, 50);  // most of them
  EXPECT_GT(reads, 20);  // most of the rest
}

TEST(ClaudeStreamClassifyTest, SkipsWhatIsNotReadWhateverTheTextInside) {
  for (
      const char* line : {
          R"({"type":"stream_event","event":{"type":"ping"}})",
          R"({"type":"stream_event","event":{"type":"message_stop"},"parent_tool_use_id":"toolu_1"})",
          // Text that names the types read: a substring search would be fooled.
          R"({"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"message_delta"}}})",
          R"({"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"{\"type\":\"stream_event\",\"event\":{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}}"}}})",
          // A "type" deeper down is not the event's.
          R"({"type":"stream_event","event":{"type":"content_block_start","index":0,"content_block":{"type":"message_delta","usage":{"output_tokens":5}}}})",
          R"({"type":"stream_event","event":{"type":"content_block_stop","index":0},"x":{"type":"result"},"y":[{"type":"assistant"}]})",
          // Escapes are decoded as a parse decodes them.
          R"({"type":"stream_event","event":{"type":"content\u005fblock_delta","index":0}})",
          R"({"type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"message_start result"}]}})",
          R"({"type":"system","subtype":"status","status":"requesting"})",
          R"({"type":"system","subtype":"hook_response","output":"init"})",
          "{\"type\":\"stream_event\",\"event\":{\"type\":\"ping\"}}\r",  // CRLF
          // Shapes a parse reads nothing from either, however written.
          R"({"type":"stream_event","event":{"type":42}})",
          R"({"type":"stream_event","event":"message_start"})",
          R"({"type":"stream_event","event":{"type":"a_type_name_longer_than_thirty_two_bytes"}})",
          R"({"type":"system","subtype":{"name":"status"}})",
          R"({"type":"system","subtype":"status_with_a_name_longer_than_thirty_two_bytes"})",
          R"( {"type":"stream_event","event":{"type":"ping"}})",
          R"({"type": "stream_event","event":{"type":"ping"}})",
          R"({"event":{"type":"ping"},"type":"stream_event"})",
      }) {
    EXPECT_EQ(ClaudeStream::Classify(line), LineClass::kSkip) << line;
  }
}

TEST(ClaudeStreamClassifyTest, NeverSkipsALineThatCanChangeTheRecordHoweverItIsWritten) {
  const std::string huge_ping = R"({"type":"stream_event","event":{"type":"ping","pad":")" +
                                std::string(5 * 1024 * 1024, 'x') + R"("}})";
  for (
      const auto& [line, want] : std::vector<std::pair<std::string, LineClass>>{
          {R"({"type":"stream_event","event":{"type":"message_start","message":{"id":"m","usage":{"input_tokens":3}}}})",
           LineClass::kRead},
          {R"({"type":"stream_event","event":{"type":"message_delta","usage":{"output_tokens":9}}})",
           LineClass::kRead},
          // Another value in the text of a line that matters.
          {R"({"type":"stream_event","event":{"type":"message_delta","delta":{"stop_sequence":"content_block_delta"},"usage":{"output_tokens":9}}})",
           LineClass::kRead},
          // The type written with an escape: decoded.
          {R"({"type":"stream_event","event":{"type":"message\u005fdelta","usage":{"output_tokens":9}}})",
           LineClass::kRead},
          {R"({"type":"assistant","message":{"id":"m","content":[{"type":"text","text":"hi"}]}})",
           LineClass::kRead},
          // Duplicate keys: the parse keeps the last one; never skipped.
          {R"({"type":"stream_event","event":{"type":"content_block_delta","type":"message_delta","usage":{"output_tokens":9}}})",
           LineClass::kParse},
          {R"({"type":"stream_event","event":{"type":"ping"},"event":{"type":"message_delta","usage":{"output_tokens":9}}})",
           LineClass::kParse},
          {R"({"type":"stream_event","event":{"type":"ping"},"type":"result","subtype":"success"})",
           LineClass::kParse},
          {R"({"type":"user","type":"result","subtype":"success","num_turns":4})",
           LineClass::kParse},
          {R"({"type":"system","subtype":"status","subtype":"init","session_id":"s"})",
           LineClass::kParse},
          // A key read here written with an escape.
          {R"({"type":"system","subtype":"status","\u0073ubtype":"api_retry","error_status":529})",
           LineClass::kParse},
          {R"({"type":"assistant","message":{"id":"m","\u0075sage":{"input_tokens":9}}})",
           LineClass::kParse},
          // A count not written as a plain integer.
          {R"({"type":"assistant","message":{"id":"m","usage":{"input_tokens":9.0}}})",
           LineClass::kParse},
          {R"({"type":"system","subtype":"init","session_id":"s","model":"m"})", LineClass::kParse},
          {R"({"type":"system","subtype":"api_retry","error_status":529,"error":"overloaded"})",
           LineClass::kParse},
          {R"({"type":"result","subtype":"success","is_error":false})", LineClass::kParse},
          {R"({"type":"rate_limit_event"})", LineClass::kParse},  // unknown: counted as such
          {huge_ping, LineClass::kParse},                         // oversized: the parse counts it
      }) {
    EXPECT_EQ(ClaudeStream::Classify(line), want) << line.substr(0, 200);
  }
}

TEST(ClaudeStreamClassifyTest, ALineThatIsNotValidJsonIsParsedAndCountedMalformed) {
  for (
      const std::string& line : std::vector<std::string>{
          R"({"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_d)",
          R"({"type":"stream_event","event":{"type":"ping"}}x)",
          R"({"type":"stream_event","event":{"type":"ping"}}{})",
          "{\"type\":\"stream_event\",\"event\":{\"type\":\"ping\",\"t\":\"\xff\"}}",
          "{\"type\":\"user\",\"x\":\"a\nb\"}",
          R"({"type":"user","x":)" + std::string(100, '[') + std::string(100, ']') + "}",
          R"({"type":"assistant","message":{"id":"m","usage":{"input_tokens":9}})",
          R"({"type":"stream_event","event":{"type":"message_start","message":{"id":"m"}}},)",
      }) {
    EXPECT_EQ(ClaudeStream::Classify(line), LineClass::kParse) << line;
    ClaudeStream s;
    s.Feed(line);
    EXPECT_EQ(s.usage().lines, 1) << line;
    EXPECT_EQ(s.usage().malformed_lines, 1) << line;
  }
}

// Everything AgentUsage holds, as text, to compare two streams.
std::string Dump(const AgentUsage& u) {
  std::string s;
  auto add = [&s](const char* name, const auto& v) {
    s += name;
    s += '=';
    if constexpr (std::is_convertible_v<decltype(v), std::string_view>) {
      s += v;
    } else {
      s += std::to_string(v);
    }
    s += ' ';
  };
  add("session", u.session_id);
  add("model", u.model);
  add("turns", u.turns);
  add("in", u.usage.input_tokens);
  add("out", u.usage.output_tokens);
  add("cr", u.usage.cache_read_tokens);
  add("cw", u.usage.cache_write_tokens);
  add("reasoning", u.usage.reasoning_tokens);
  add("cost", u.usage.cost_usd);
  add("estimated", u.cost_estimated);
  add("default_price", u.cost_default_price);
  add("result", u.result.text);
  add("result_cut", u.result.truncated);
  add("last_text", u.last_text.text);
  add("is_error", u.is_error);
  add("subtype", u.subtype);
  add("terminal", u.terminal_reason);
  add("api_status", u.api_error_status);
  add("error", u.error_message.text);
  add("denials", u.permission_denials);
  for (const std::string& t : u.denied_tools) add("denied", t);
  add("warnings", u.warnings);
  add("warning", u.last_warning.text);
  add("lines", u.lines);
  add("malformed", u.malformed_lines);
  add("oversized", u.oversized_lines);
  add("unknown", u.unknown_lines);
  add("has_result", u.has_result);
  return s;
}

bool ParsesToObject(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(line, ec);
  return !ec && v.is_object();
}

// Feeds `lines` to a stream that skips and to one that parses every line; after each line
// both have the same usage, delta and verdict. With `lenient`, a line skipped by its opening
// bytes whose tokens are broken (it does not parse) is fed to the parsing stream as a ping: the
// one difference skipping makes (counted as a line, not a malformed one); *lenient counts them.
// `originals` (with `lenient_read`): the whole line each of `lines` was made from by one change.
// A line read from its scan that a parse rejects must read what its original reads (its fault
// lies in a value not read), and count as a line.
void ExpectSkippingChangesNothing(const std::vector<std::string>& lines, const std::string& what,
                                  int* lenient = nullptr,
                                  const std::vector<std::string>* originals = nullptr,
                                  int* lenient_read = nullptr) {
  ClaudeStream skipping;
  ClaudeStream parsing;
  parsing.DisableSkippingForTest();
  for (size_t i = 0; i < lines.size(); ++i) {
    skipping.Feed(lines[i]);
    const LineClass kind = ClaudeStream::Classify(lines[i]);
    if (lenient != nullptr && kind == LineClass::kSkip && !ParsesToObject(lines[i])) {
      parsing.Feed(R"({"type":"stream_event","event":{"type":"ping"}})");
      ++*lenient;
    } else if (lenient != nullptr && kind == LineClass::kRead && !ParsesToObject(lines[i])) {
      ASSERT_TRUE(originals != nullptr && lenient_read != nullptr) << what << " line " << i;
      ASSERT_TRUE(ParsesToObject((*originals)[i])) << what << " line " << i;
      parsing.Feed((*originals)[i]);
      ++*lenient_read;
    } else {
      parsing.Feed(lines[i]);
    }
    ASSERT_EQ(Dump(skipping.usage()), Dump(parsing.usage())) << what << " line " << i;
    const UsageDelta a = skipping.TakeDelta();
    const UsageDelta b = parsing.TakeDelta();
    ASSERT_EQ(a.total_tokens(), b.total_tokens()) << what << " line " << i;
    ASSERT_EQ(a.cost_usd, b.cost_usd) << what << " line " << i;
    ASSERT_EQ(skipping.Succeeded(), parsing.Succeeded()) << what << " line " << i;
  }
}

TEST(ClaudeStreamClassifyTest, SkippingGivesWhatParsingEveryLineGives) {
  for (const std::string& name : ClaudeFixtures()) {
    ExpectSkippingChangesNothing(FixtureLines(name), name);
  }
  // Hostile lines around a real run: duplicates, escapes, broken skippable lines.
  std::vector<std::string> lines = FixtureLines("claude_tool_bash.jsonl");
  lines.insert(
      lines.begin() + 3,
      {R"({"type":"stream_event","event":{"type":"content_block_delta","type":"message_delta","usage":{"output_tokens":900}}})",
       R"({"type":"stream_event","event":{"type":"ping"},"event":{"type":"message_delta","usage":{"output_tokens":950}}})",
       R"({"type":"stream_event","event":{"type":"message\u005fdelta","usage":{"output_tokens":990}}})",
       R"({"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_d)",
       R"({"type":"system","subtype":"status","subtype":"api_retry","error_status":529,"error":"overloaded"})",
       R"({"type":"user","type":"assistant","message":{"id":"x","content":[{"type":"text","text":"t"}]}})",
       "{\"type\":\"user\",\"x\":\"\xc3\"}"});
  ExpectSkippingChangesNothing(lines, "hostile");

  // Lines read from their scan, written every way: the figures are the parse's.
  ExpectSkippingChangesNothing(
      {
          R"({"type":"system","subtype":"init","session_id":"s","model":"claude-sonnet-4-5"})",
          // Escapes in the strings read; a sub-agent's message; a model of its own.
          R"({"type":"stream_event","event":{"type":"message_start","message":{"id":"m\u0031","model":"claude-opus-4-1","usage":{"input_tokens":10,"output_tokens":1}}},"parent_tool_use_id":null})",
          R"({"type":"assistant","message":{"id":"m\u0031","content":[{"type":"text","text":"caf\u00e9 \"q\" \\ \/ \n\t\u20ac"}],"usage":{"input_tokens":10,"output_tokens":3}}})",
          R"({"type":"stream_event","event":{"type":"message_start","message":{"id":"s1","usage":{"input_tokens":7}}},"parent_tool_use_id":"toolu_\u0031"})",
          R"({"type":"stream_event","event":{"type":"message_delta","usage":{"output_tokens":4}},"parent_tool_use_id":"toolu_1"})",
          R"({"type":"assistant","message":{"id":"s1","content":[{"type":"text","text":"sub"}]},"parent_tool_use_id":"toolu_1"})",
          // The names read, elsewhere: in strings, deeper objects, arrays.
          R"({"type":"assistant","message":{"id":"m2","content":[{"type":"tool_use","input":{"type":"text","text":"no","usage":{"input_tokens":900}}},{"text":"no"},"text",["text"],{"type":"text","text":"yes"},{"type":"image"}],"x":{"usage":{"output_tokens":800}},"usage":{"input_tokens":20,"output_tokens":2,"cache_read_input_tokens":5,"cache_creation_input_tokens":6}}})",
          R"({"type":"stream_event","event":{"type":"message_delta","delta":{"usage":{"output_tokens":700},"type":"message_start"},"usage":{"output_tokens":9,"x":{"output_tokens":600}}},"note":"\"usage\":{\"output_tokens\":500}"})",
          // A text block whose text is not a string; no text block; content not an array.
          R"({"type":"assistant","message":{"id":"m2","content":[{"type":"text","text":7}]}})",
          R"({"type":"assistant","message":{"id":"m2","content":[{"type":"text"}]}})",
          R"({"type":"assistant","message":{"id":"m3","content":{"type":"text","text":"obj"}}})",
          R"({"type":"assistant","message":{"id":"m3","content":[]}})",
          // Counts of every shape: negative, huge, strings, null, fractions, exponents.
          R"({"type":"stream_event","event":{"type":"message_start","message":{"id":"n","usage":{"input_tokens":-5,"output_tokens":"7","cache_read_input_tokens":null,"cache_creation_input_tokens":99999999999999999999999}}}})",
          R"({"type":"stream_event","event":{"type":"message_delta","usage":{"input_tokens":1125899906842624,"output_tokens":1125899906842625}}})",
          R"({"type":"stream_event","event":{"type":"message_delta","usage":{"output_tokens":12.0,"input_tokens":1e2}}})",
          R"({"type":"stream_event","event":{"type":"message_delta","usage":{"output_tokens":-0}}})",
          // Missing or odd pieces: no message, message not an object, usage not an object.
          R"({"type":"stream_event","event":{"type":"message_start"}})",
          R"({"type":"stream_event","event":{"type":"message_start","message":"m"}})",
          R"({"type":"stream_event","event":{"type":"message_start","message":{"id":"u","usage":[1]}}})",
          R"({"type":"stream_event","event":{"type":"message_delta","usage":null}})",
          R"({"type":"stream_event","event":{"type":"message_delta"}})",
          R"({"type":"assistant"})",
          R"({"type":"assistant","message":null,"parent_tool_use_id":7})",
          R"({"type":"assistant","message":{"id":5,"model":["x"],"usage":{"output_tokens":3}}})",
          // Duplicates and escaped keys: the parse reads them.
          R"({"type":"assistant","message":{"id":"d","usage":{"output_tokens":3,"output_tokens":30}}})",
          R"({"type":"assistant","message":{"id":"d","content":[{"type":"text","text":"a","text":"b"}]}})",
          R"({"type":"assistant","message":{"id":"d","\u0069d":"e","usage":{"output_tokens":31}}})",
          R"({"type":"assistant","message":{"id":"d"},"message":{"id":"f","usage":{"output_tokens":32}}})",
          // Surrogates, spaces, CRLF, a long text over the kept bound.
          R"({"type":"assistant","message":{"id":"g","content":[{"type":"text","text":"\ud83d\ude00"}]}})",
          " { \"type\" : \"assistant\" , \"message\" : { \"id\" : \"h\" , \"usage\" : { "
          "\"output_tokens\" : 40 } } } \r",
          R"({"type":"assistant","message":{"id":"i","content":[{"type":"text","text":")" +
              std::string(AgentUsage::kTextMaxBytes + 10, 'x') + R"("}]}})",
          R"({"type":"assistant","message":{"id":"i","content":[{"type":"text","text":")" +
              std::string(AgentUsage::kTextMaxBytes - 1, 'x') + R"(\u00e9"}]}})",
          R"({"type":"result","subtype":"success","is_error":false,"num_turns":3,"result":"done"})",
          R"({"type":"assistant","message":{"id":"late","usage":{"output_tokens":50}}})",
      },
      "read");

  // Cuts all along every line of a run: skipped or not, the same counts (malformed where a parse
  // fails) and the same figures.
  std::vector<std::string> cuts;
  for (const std::string& line : FixtureLines("claude_tool_bash.jsonl")) {
    for (size_t n = 0; n <= line.size(); n += 3) cuts.push_back(line.substr(0, n));
  }
  int lenient = 0;
  int lenient_read = 0;
  ExpectSkippingChangesNothing(cuts, "cut", &lenient, &cuts, &lenient_read);
  EXPECT_EQ(lenient, 0);
  EXPECT_EQ(lenient_read, 0);
  // One-byte changes all along them: the same, but for the lines whose brackets and strings are
  // whole and whose tokens are broken (a comma, a colon, a digit changed) where nothing is read:
  // a skipped line counted as a line, not malformed (ClaudeStream::Classify); a line read from
  // its scan with the change in a value it does not read, counted as a line and read as the
  // line without the change.
  std::vector<std::string> mutated;
  std::vector<std::string> originals;
  for (const std::string& line : FixtureLines("claude_tool_bash.jsonl")) {
    for (size_t i = 0; i < line.size(); i += 4) {
      for (char c : {'"', '}', ']', '\\', '1', ' ', ',', ':', 'x', '\xc3'}) {
        std::string m = line;
        m[i] = c;
        mutated.push_back(m);
        originals.push_back(line);
      }
    }
  }
  ExpectSkippingChangesNothing(mutated, "mutated", &lenient, &originals, &lenient_read);
  EXPECT_GT(lenient, 0);
  EXPECT_GT(lenient_read, 0);
  EXPECT_LT(lenient + lenient_read, static_cast<int>(mutated.size()) / 10);
}

TEST(ClaudeStreamClassifyTest, ALineSkippedByItsOpeningIsCheckedForItsShapeNotItsTokens) {
  const std::string delta =
      R"({"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"command\":\"echo \\\"hi\\\"\"}"}},"session_id":"s","parent_tool_use_id":null,"uuid":"u"})";
  ASSERT_TRUE(ParsesToObject(delta));
  ClaudeStream s;
  s.Feed(delta);
  EXPECT_EQ(ClaudeStream::Classify(delta), LineClass::kSkip);
  EXPECT_EQ(s.usage().lines, 1);
  EXPECT_EQ(s.usage().malformed_lines, 0);
  // Cut anywhere, two lines run together, a string or bracket left open, a byte that is not
  // printable ASCII: not skipped, and malformed.
  int cut = 0;
  for (size_t n = 0; n + 1 < delta.size(); ++n) {
    s.Feed(delta.substr(0, n));
    ++cut;
  }
  for (
      const std::string& bad : std::vector<std::string>{
          delta + delta, delta + "x", delta.substr(0, 76) + "}}}",
          R"({"type":"stream_event","event":{"type":"content_block_delta","delta":{"text":"a]"}})",
          R"({"type":"stream_event","event":{"type":"content_block_delta","delta":{"text":"a\"}}})",
          R"({"type":"stream_event","event":{"type":"content_block_delta","delta":["text"}}})",
          std::string(R"({"type":"stream_event","event":{"type":"ping","t":"a)") + "\x01" +
              R"("}})",
          std::string(R"({"type":"stream_event","event":{"type":"ping","t":")") + "\xff" +
              R"("}})"}) {
    EXPECT_NE(ClaudeStream::Classify(bad), LineClass::kSkip) << bad;
    s.Feed(bad);
    ++cut;
  }
  EXPECT_EQ(s.usage().lines, 1 + cut);
  EXPECT_EQ(s.usage().malformed_lines, cut);
  // Whole brackets and strings around broken tokens: counted as a line, not malformed.
  ClaudeStream t;
  for (const char* line :
       {R"({"type":"stream_event","event":{"type":"ping",}})",
        R"({"type":"stream_event","event":{"type":"content_block_delta","index":01}})",
        R"({"type":"user","message":{"content" "x"}})",
        R"({"type":"system","subtype":"status","n":tru})"}) {
    EXPECT_EQ(ClaudeStream::Classify(line), LineClass::kSkip) << line;
    t.Feed(line);
  }
  // An unknown type is still counted as such; usage still charged from message_start and
  // message_delta around skipped lines.
  t.Feed(R"({"type":"rate_limit_event","x":{}})");
  t.Feed(
      R"({"type":"stream_event","event":{"type":"message_start","message":{"id":"m","model":"claude-opus-4-1","usage":{"input_tokens":10,"output_tokens":1}}}})");
  t.Feed(delta);
  t.Feed(R"({"type":"stream_event","event":{"type":"message_delta","usage":{"output_tokens":7}}})");
  EXPECT_EQ(t.usage().lines, 8);
  EXPECT_EQ(t.usage().malformed_lines, 0);
  EXPECT_EQ(t.usage().unknown_lines, 1);
  EXPECT_EQ(t.usage().usage.input_tokens, 10);
  EXPECT_EQ(t.usage().usage.output_tokens, 7);
}

TEST(ClaudeStreamClassifyTest, SkippedLinesAreCountedAsLinesAndBrokenOnesAsMalformed) {
  ClaudeStream s;
  s.Feed(R"({"type":"stream_event","event":{"type":"ping"}})");
  s.Feed(R"({"type":"user","message":{}})");
  s.Feed(R"({"type":"stream_event","event":{"type":"content_block_delta","delta":{"text":"cut)");
  EXPECT_EQ(s.usage().lines, 3);
  EXPECT_EQ(s.usage().malformed_lines, 1);
  EXPECT_EQ(s.usage().unknown_lines, 0);
}

}  // namespace
}  // namespace overseer::service
