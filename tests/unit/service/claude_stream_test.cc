// ClaudeStream's figures from the captured runs of the real CLI (tests/fixtures/agents) and
// from hand-written lines: usage charged as it streams, the result line's totals, errors,
// denials, bounds. (How each line is classified and skimmed: claude_stream_classify_test.cc.)
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

}  // namespace
}  // namespace overseer::service
