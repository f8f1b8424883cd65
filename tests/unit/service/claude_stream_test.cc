#include "service/runtimes/claude_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "unit/service/agent_fixtures.h"

namespace overseer::service {
namespace {

using testing::FeedFixture;
using testing::FixtureLines;

UsageDelta SumOfDeltas(const std::string& fixture, ClaudeStream& s) {
  UsageDelta sum;
  for (const std::string& line : FixtureLines(fixture)) {
    s.Feed(line);
    UsageDelta d = s.TakeDelta();
    sum.input_tokens += d.input_tokens;
    sum.output_tokens += d.output_tokens;
    sum.cache_read_tokens += d.cache_read_tokens;
    sum.cache_write_tokens += d.cache_write_tokens;
    sum.cost_usd += d.cost_usd;
  }
  return sum;
}

TEST(ClaudeStreamTest, ATextReplyGivesTheFiguresOfItsResultLine) {
  ClaudeStream s;
  FeedFixture(s, "claude_text.jsonl");
  const AgentUsage& u = s.usage();
  EXPECT_EQ(u.session_id, "c016f48e-4013-43f1-b3ba-d5f04bdb43b0");
  EXPECT_EQ(u.model, "claude-opus-4-8[1m]");
  EXPECT_EQ(u.turns, 1);
  EXPECT_EQ(u.usage.input_tokens, 120);
  EXPECT_EQ(u.usage.output_tokens, 7);
  EXPECT_EQ(u.usage.cache_read_tokens, 30);
  EXPECT_EQ(u.usage.cache_write_tokens, 40);
  EXPECT_EQ(u.usage.total_tokens(), 197);
  EXPECT_DOUBLE_EQ(u.usage.cost_usd, 0.00104);
  EXPECT_FALSE(u.cost_estimated);
  EXPECT_EQ(u.result.text, "Hello from the fake model.");
  EXPECT_FALSE(u.result.truncated);
  EXPECT_EQ(u.last_text.text, "Hello from the fake model.");
  EXPECT_TRUE(u.has_result);
  EXPECT_FALSE(u.is_error);
  EXPECT_EQ(u.subtype, "success");
  EXPECT_EQ(u.terminal_reason, "completed");
  EXPECT_EQ(u.api_error_status, 0);
  EXPECT_EQ(u.permission_denials, 0);
  EXPECT_EQ(u.lines, 11);
  EXPECT_EQ(u.malformed_lines, 0);
  EXPECT_EQ(u.unknown_lines, 0);
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(true));
}

TEST(ClaudeStreamTest, UsageIsChargedPerMessageAsItStreams) {
  std::vector<std::string> lines = FixtureLines("claude_text.jsonl");
  ASSERT_EQ(lines.size(), 11u);
  ClaudeStream s;
  for (size_t i = 0; i < 3; ++i) s.Feed(lines[i]);  // init, status, message_start
  UsageDelta d = s.TakeDelta();
  EXPECT_EQ(d.input_tokens, 120);
  EXPECT_EQ(d.output_tokens, 1);
  EXPECT_EQ(d.cache_read_tokens, 30);
  EXPECT_EQ(d.cache_write_tokens, 40);
  // 120 x $5 + 1 x $25 + 30 x $0.5 + 40 x $6.25 per million (Opus 4.8).
  EXPECT_NEAR(d.cost_usd, 0.000890, 1e-12);
  EXPECT_TRUE(s.usage().cost_estimated);
  EXPECT_FALSE(s.usage().cost_default_price);
  EXPECT_EQ(s.Succeeded(), std::nullopt);
  for (size_t i = 3; i < 8; ++i) s.Feed(lines[i]);  // deltas, assistant, block stop
  EXPECT_TRUE(s.TakeDelta().empty()) << "the assistant line repeats message_start's usage";
  EXPECT_EQ(s.usage().turns, 1);
  s.Feed(lines[8]);  // message_delta: the final output count
  d = s.TakeDelta();
  EXPECT_EQ(d.output_tokens, 6);
  EXPECT_EQ(d.input_tokens, 0);
  EXPECT_NEAR(d.cost_usd, 6 * 25 / 1e6, 1e-12);
  EXPECT_NEAR(s.usage().usage.cost_usd, 0.00104, 1e-12);  // the estimate is the CLI's figure
  s.Feed(lines[9]);
  s.Feed(lines[10]);  // result
  d = s.TakeDelta();
  EXPECT_EQ(d.total_tokens(), 0);
  EXPECT_NEAR(d.cost_usd, 0, 1e-12);
  EXPECT_FALSE(s.usage().cost_estimated);
}

TEST(ClaudeStreamTest, AToolCallRunSumsBothRepliesAndTheDeltasAddUpToTheResult) {
  ClaudeStream s;
  UsageDelta sum = SumOfDeltas("claude_tool_bash.jsonl", s);
  const AgentUsage& u = s.usage();
  EXPECT_EQ(u.session_id, "3e5ed493-b04c-4d30-83f7-a398a36bb8a7");
  EXPECT_EQ(u.turns, 2);
  EXPECT_EQ(u.usage.input_tokens, 460);
  EXPECT_EQ(u.usage.output_tokens, 39);
  EXPECT_EQ(u.usage.cache_read_tokens, 200);
  EXPECT_EQ(u.usage.cache_write_tokens, 0);
  EXPECT_DOUBLE_EQ(u.usage.cost_usd, 0.003375);
  EXPECT_EQ(u.result.text, "The command printed hi.");
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(true));
  EXPECT_EQ(sum.input_tokens, 460);
  EXPECT_EQ(sum.output_tokens, 39);
  EXPECT_EQ(sum.cache_read_tokens, 200);
  EXPECT_NEAR(sum.cost_usd, 0.003375, 1e-12);
}

TEST(ClaudeStreamTest, WithoutPartialMessagesTheAssistantLinesChargeTheInputAndTheResultTheRest) {
  ClaudeStream s;
  for (const std::string& line : FixtureLines("claude_tool_bash.jsonl")) {
    if (line.find(R"("type":"stream_event")") != std::string::npos) continue;
    if (line.find(R"("type":"result")") != std::string::npos) {
      // Before the result: both replies' input, one output token each (message_start's).
      EXPECT_EQ(s.usage().usage.input_tokens, 460);
      EXPECT_EQ(s.usage().usage.cache_read_tokens, 200);
      EXPECT_EQ(s.usage().usage.output_tokens, 2);
      EXPECT_EQ(s.usage().turns, 2);
    }
    s.Feed(line);
  }
  EXPECT_EQ(s.usage().usage.output_tokens, 39);
  EXPECT_DOUBLE_EQ(s.usage().usage.cost_usd, 0.003375);
}

TEST(ClaudeStreamTest, PermissionDenialsAreCountedWithTheirToolNames) {
  ClaudeStream s;
  FeedFixture(s, "claude_permission_denied.jsonl");
  const AgentUsage& u = s.usage();
  EXPECT_EQ(u.permission_denials, 1);
  EXPECT_EQ(u.denied_tools, std::vector<std::string>{"Bash"});
  EXPECT_EQ(u.result.text, "I was not allowed to run it.");
  EXPECT_EQ(u.turns, 2);
  EXPECT_EQ(u.usage.input_tokens, 20);
  EXPECT_EQ(u.usage.output_tokens, 10);
  EXPECT_DOUBLE_EQ(u.usage.cost_usd, 0.00035);
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(true));  // a denial does not fail the run
}

TEST(ClaudeStreamTest, AnApiErrorFailsTheRunThoughTheSubtypeSaysSuccess) {
  std::vector<std::string> lines = FixtureLines("claude_api_error_500.jsonl");
  ClaudeStream s;
  for (size_t i = 0; i + 1 < lines.size(); ++i) s.Feed(lines[i]);
  EXPECT_EQ(s.usage().api_error_status, 500);  // from system/api_retry, before the result
  EXPECT_EQ(s.Succeeded(), std::nullopt);
  s.Feed(lines.back());
  const AgentUsage& u = s.usage();
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(false));
  EXPECT_TRUE(u.is_error);
  EXPECT_EQ(u.subtype, "success");
  EXPECT_EQ(u.api_error_status, 500);
  EXPECT_EQ(u.error_message.text.rfind("API Error: 500 fake: the model is down.", 0), 0u)
      << u.error_message.text;
  EXPECT_EQ(u.usage.total_tokens(), 0);
  EXPECT_EQ(u.usage.cost_usd, 0);
  EXPECT_FALSE(u.cost_estimated);
  EXPECT_EQ(u.model, "claude-opus-4-8[1m]");  // not the synthetic message's "<synthetic>"
}

TEST(ClaudeStreamTest, MaxTurnsEndsInError) {
  ClaudeStream s;
  FeedFixture(s, "claude_max_turns.jsonl");
  const AgentUsage& u = s.usage();
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(false));
  EXPECT_EQ(u.subtype, "error_max_turns");
  EXPECT_EQ(u.terminal_reason, "max_turns");
  EXPECT_EQ(u.turns, 2);
  EXPECT_EQ(u.error_message.text, "Reached maximum number of turns (1)");
  EXPECT_EQ(u.usage.input_tokens, 10);
  EXPECT_EQ(u.usage.output_tokens, 5);
  EXPECT_DOUBLE_EQ(u.usage.cost_usd, 0.000175);
}

TEST(ClaudeStreamTest, MaxBudgetResultHasZeroUsageSoModelUsageGivesTheTokens) {
  ClaudeStream s;
  UsageDelta sum = SumOfDeltas("claude_max_budget.jsonl", s);
  const AgentUsage& u = s.usage();
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(false));
  EXPECT_EQ(u.subtype, "error_max_budget_usd");
  EXPECT_EQ(u.error_message.text, "Reached maximum budget ($0.01)");
  EXPECT_EQ(u.result.text, "");  // this result line has no "result"
  EXPECT_EQ(u.usage.input_tokens, 100000);
  EXPECT_EQ(u.usage.output_tokens, 500);
  EXPECT_DOUBLE_EQ(u.usage.cost_usd, 0.5125);
  EXPECT_EQ(sum.input_tokens, 100000);
  EXPECT_NEAR(sum.cost_usd, 0.5125, 1e-12);
}

TEST(ClaudeStreamTest, ACutStreamIsCorrectedByTheResultWithANegativeDelta) {
  std::vector<std::string> lines = FixtureLines("claude_stream_cut.jsonl");
  ASSERT_EQ(lines.size(), 5u);
  ClaudeStream s;
  for (size_t i = 0; i < 4; ++i) s.Feed(lines[i]);
  // The cut stream's message_start (10 in, 1 out) and the retried reply (80 in, 11 out).
  UsageDelta streamed = s.TakeDelta();
  EXPECT_EQ(streamed.input_tokens, 90);
  EXPECT_EQ(streamed.output_tokens, 12);
  EXPECT_EQ(s.usage().last_text.text, "Answer from the non-streaming retry.");
  s.Feed(lines[4]);  // result: usage all zeros, modelUsage 80 / 11, total_cost_usd 0.000675
  UsageDelta d = s.TakeDelta();
  EXPECT_EQ(d.input_tokens, -10);
  EXPECT_EQ(d.output_tokens, -1);
  const AgentUsage& u = s.usage();
  EXPECT_EQ(u.usage.input_tokens, 80);
  EXPECT_EQ(u.usage.output_tokens, 11);
  EXPECT_DOUBLE_EQ(u.usage.cost_usd, 0.000675);
  EXPECT_FALSE(u.cost_estimated);
  EXPECT_EQ(u.turns, 1);
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(true));
}

TEST(ClaudeStreamTest, AKilledStallHasNoResultButItsStreamedUsage) {
  ClaudeStream s;
  FeedFixture(s, "claude_stall_killed.jsonl");
  const AgentUsage& u = s.usage();
  EXPECT_EQ(s.Succeeded(), std::nullopt);
  EXPECT_FALSE(u.has_result);
  EXPECT_EQ(u.session_id.size(), 36u);
  EXPECT_EQ(u.usage.input_tokens, 10);
  EXPECT_EQ(u.usage.output_tokens, 1);
  EXPECT_NEAR(u.usage.cost_usd, 0.000075, 1e-12);
  EXPECT_TRUE(u.cost_estimated);
}

TEST(ClaudeStreamTest, ResumeAndFreezeThawRunsCountOnlyTheirOwnReplies) {
  ClaudeStream resumed;
  FeedFixture(resumed, "claude_resume.jsonl");
  EXPECT_EQ(resumed.usage().session_id, "548192dd-6946-4b13-b6a5-bd5c671622f5");
  EXPECT_EQ(resumed.usage().usage.input_tokens, 50);
  EXPECT_EQ(resumed.usage().usage.output_tokens, 6);
  EXPECT_DOUBLE_EQ(resumed.usage().usage.cost_usd, 0.0004);
  EXPECT_EQ(resumed.usage().result.text, "Second answer, with the history.");

  ClaudeStream thawed;
  FeedFixture(thawed, "claude_freeze_thaw.jsonl");
  EXPECT_EQ(thawed.Succeeded(), std::optional<bool>(true));
  EXPECT_EQ(thawed.usage().usage.input_tokens, 90);
  EXPECT_EQ(thawed.usage().usage.output_tokens, 12);
  EXPECT_DOUBLE_EQ(thawed.usage().usage.cost_usd, 0.00075);
  EXPECT_EQ(thawed.usage().result.text, "one two three four five six seven eight");
}

// --- hostile input ---

TEST(ClaudeStreamTest, MalformedAndUnknownLinesAreCountedAndSkipped) {
  ClaudeStream s;
  s.Feed("");
  s.Feed("{not json");
  s.Feed("[1,2,3]");
  s.Feed("\"a string\"");
  s.Feed(std::string(100000, '[') + std::string(100000, ']'));  // deeper than the parser allows
  s.Feed("{\"type\":\"x\xff\"}");                               // not UTF-8
  s.Feed(R"({"type":"rate_limit_event","x":1})");
  s.Feed(R"({"no_type":true})");
  s.Feed(R"({"type":42})");
  s.Feed(R"({"type":"user","message":{}})");  // known: tool results
  s.Feed(R"({"type":"assistant"})");          // known type, no message
  s.Feed(R"({"type":"stream_event","event":"nope"})");
  FeedFixture(s, "claude_text.jsonl");
  const AgentUsage& u = s.usage();
  EXPECT_EQ(u.malformed_lines, 6);
  EXPECT_EQ(u.oversized_lines, 0);
  EXPECT_EQ(u.unknown_lines, 3);
  EXPECT_EQ(u.lines, 12 + 11);
  EXPECT_EQ(u.usage.input_tokens, 120);  // the good lines still count
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(true));
}

TEST(ClaudeStreamTest, ATenMegabyteLineIsSkippedUnparsed) {
  ClaudeStream s;
  std::string huge = R"({"type":"result","subtype":"success","is_error":false,"result":")";
  huge += std::string(10 * 1024 * 1024, 'x');
  huge += R"("})";
  s.Feed(huge);
  EXPECT_EQ(s.usage().oversized_lines, 1);
  EXPECT_EQ(s.usage().malformed_lines, 1);
  EXPECT_FALSE(s.usage().has_result);
  EXPECT_EQ(s.Succeeded(), std::nullopt);
}

TEST(ClaudeStreamTest, AResultWithoutUsageKeepsWhatWasStreamedAndTakesItsCost) {
  std::vector<std::string> lines = FixtureLines("claude_text.jsonl");
  ClaudeStream s;
  for (size_t i = 0; i + 1 < lines.size(); ++i) s.Feed(lines[i]);
  s.Feed(
      R"({"type":"result","subtype":"success","is_error":false,"result":"ok","total_cost_usd":0.5})");
  const AgentUsage& u = s.usage();
  EXPECT_EQ(u.usage.input_tokens, 120);
  EXPECT_EQ(u.usage.output_tokens, 7);
  EXPECT_DOUBLE_EQ(u.usage.cost_usd, 0.5);
  EXPECT_FALSE(u.cost_estimated);
  EXPECT_EQ(u.turns, 1);  // no num_turns: the streamed count
  EXPECT_EQ(u.result.text, "ok");

  // Nothing at all but a bare result: zero, not estimated, succeeded.
  ClaudeStream bare;
  bare.Feed(R"({"type":"result"})");
  EXPECT_EQ(bare.Succeeded(), std::optional<bool>(true));
  EXPECT_EQ(bare.usage().usage.total_tokens(), 0);
  EXPECT_EQ(bare.usage().usage.cost_usd, 0);
}

TEST(ClaudeStreamTest, NumbersOfTheWrongTypeReadAsAbsent) {
  ClaudeStream s;
  s.Feed(R"({"type":"system","subtype":"init","session_id":7,"model":["x"]})");
  s.Feed(R"({"type":"assistant","message":{"id":"m1","model":"claude-opus-4-8","usage":{)"
         R"("input_tokens":"120","output_tokens":-5,"cache_read_input_tokens":1.5,)"
         R"("cache_creation_input_tokens":1e300},"content":"text"}})");
  EXPECT_EQ(s.usage().usage.total_tokens(), 0);
  s.Feed(R"({"type":"assistant","message":{"id":"m2","model":"claude-opus-4-8","usage":{)"
         R"("input_tokens":100.0,"output_tokens":18446744073709551615}}})");
  EXPECT_EQ(s.usage().usage.input_tokens, 100);  // an integral double is a count
  EXPECT_EQ(s.usage().usage.output_tokens, 0);
  EXPECT_EQ(s.usage().model, "claude-opus-4-8");
  EXPECT_EQ(s.usage().session_id, "");
  s.Feed(R"({"type":"result","subtype":"success","is_error":"yes","num_turns":-1,)"
         R"("api_error_status":"500","total_cost_usd":"0.3","result":12,)"
         R"("usage":{"input_tokens":null},"modelUsage":[],"permission_denials":{}})");
  const AgentUsage& u = s.usage();
  EXPECT_TRUE(u.has_result);
  EXPECT_FALSE(u.is_error);  // only the literal true
  EXPECT_EQ(u.api_error_status, 0);
  EXPECT_EQ(u.turns, 2);
  EXPECT_EQ(u.result.text, "");
  EXPECT_EQ(u.usage.input_tokens, 100);
  EXPECT_NEAR(u.usage.cost_usd, 100 * 5 / 1e6, 1e-12);  // no usable cost: still the estimate
  EXPECT_TRUE(u.cost_estimated);
  EXPECT_EQ(u.malformed_lines, 0);
}

TEST(ClaudeStreamTest, StoredTextIsBoundedAtACharacterBoundary) {
  ClaudeStream s;
  std::string big = std::string(AgentUsage::kResultMaxBytes - 1, 'a') + "é";  // cut inside é
  std::string denials;
  for (int i = 0; i < 1000; ++i) {
    if (i > 0) denials += ",";
    denials += R"({"tool_name":"T)" + std::to_string(i % 100) + R"(","tool_use_id":"x"})";
  }
  s.Feed(R"({"type":"result","subtype":"success","is_error":false,"result":")" + big +
         R"(","permission_denials":[)" + denials + "]}");
  const AgentUsage& u = s.usage();
  EXPECT_TRUE(u.result.truncated);
  EXPECT_EQ(u.result.text, std::string(AgentUsage::kResultMaxBytes - 1, 'a'));
  EXPECT_EQ(u.permission_denials, 1000);
  ASSERT_EQ(u.denied_tools.size(), AgentUsage::kDeniedToolsMax);
  EXPECT_EQ(u.denied_tools.front(), "T0");
  EXPECT_EQ(u.denied_tools.back(), "T31");
}

TEST(ClaudeStreamTest, ManyMessagesStayBoundedAndAreAllCharged) {
  ClaudeStream s;
  for (int i = 0; i < 1000; ++i) {
    std::string id = "msg" + std::to_string(i);
    s.Feed(R"({"type":"stream_event","event":{"type":"message_start","message":{"id":")" + id +
           R"(","model":"claude-opus-4-8","usage":{"input_tokens":10,"output_tokens":1}}}})");
    s.Feed(
        R"({"type":"stream_event","event":{"type":"message_delta","usage":{"output_tokens":3}}})");
    s.Feed(
        R"({"type":"assistant","message":{"id":")" + id +
        R"(","usage":{"input_tokens":10,"output_tokens":1},"content":[{"type":"text","text":"t)" +
        std::to_string(i) + R"("}]}})");
  }
  EXPECT_EQ(s.usage().usage.input_tokens, 10000);
  EXPECT_EQ(s.usage().usage.output_tokens, 3000);
  EXPECT_EQ(s.usage().turns, 1000);
  EXPECT_EQ(s.usage().last_text.text, "t999");
}

TEST(ClaudeStreamTest, AnUnknownModelIsPricedAtTheDefaultAndFlagged) {
  ClaudeStream s;
  s.Feed(R"({"type":"system","subtype":"init","session_id":"s","model":"gateway-model"})");
  s.Feed(R"({"type":"assistant","message":{"id":"m","usage":{"input_tokens":1000000}}})");
  EXPECT_TRUE(s.usage().cost_default_price);
  EXPECT_NEAR(s.usage().usage.cost_usd, 5.0, 1e-9);  // the built-in default: $5 per M input
}

// --- skipping the lines nothing is read from (ClaudeStream::Classify) ---

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
void ExpectSkippingChangesNothing(const std::vector<std::string>& lines, const std::string& what,
                                  int* lenient = nullptr) {
  ClaudeStream skipping;
  ClaudeStream parsing;
  parsing.DisableSkippingForTest();
  for (size_t i = 0; i < lines.size(); ++i) {
    skipping.Feed(lines[i]);
    if (lenient != nullptr && ClaudeStream::Classify(lines[i]) == LineClass::kSkip &&
        !ParsesToObject(lines[i])) {
      parsing.Feed(R"({"type":"stream_event","event":{"type":"ping"}})");
      ++*lenient;
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
  ExpectSkippingChangesNothing(cuts, "cut", &lenient);
  EXPECT_EQ(lenient, 0);
  // One-byte changes all along them: the same, but for the skipped lines whose brackets and
  // strings are whole and whose tokens are broken (a comma, a colon, a digit changed): counted
  // as lines, not malformed (ClaudeStream::Classify).
  std::vector<std::string> mutated;
  for (const std::string& line : FixtureLines("claude_tool_bash.jsonl")) {
    for (size_t i = 0; i < line.size(); i += 4) {
      for (char c : {'"', '}', ']', '\\', '1', ' ', ',', ':', '\xc3'}) {
        std::string m = line;
        m[i] = c;
        mutated.push_back(m);
      }
    }
  }
  ExpectSkippingChangesNothing(mutated, "mutated", &lenient);
  EXPECT_GT(lenient, 0);
  EXPECT_LT(lenient, static_cast<int>(mutated.size()) / 10);
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
