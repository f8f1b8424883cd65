#include "service/runtimes/codex_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/service/agent_fixtures.h"

namespace overseer::service {
namespace {

using testing::FeedFixture;
using testing::FixtureLines;

// gpt-5's list price: $1.25 input, $0.125 cached input, $10 output per million tokens.
constexpr double kGpt5In = 1.25, kGpt5Cached = 0.125, kGpt5Out = 10;

TEST(CodexStreamTest, ATextTurnGivesItsUsagePricedFromTheTable) {
  CodexStream s("gpt-5");
  FeedFixture(s, "codex_text.jsonl");
  const AgentUsage& u = s.usage();
  EXPECT_EQ(u.session_id, "01a23609-940e-7a82-933b-ef0685d7fc40");
  EXPECT_EQ(u.model, "gpt-5");
  EXPECT_EQ(u.turns, 1);
  // 200 input of which 50 cached; 9 output of which 3 reasoning.
  EXPECT_EQ(u.usage.input_tokens, 150);
  EXPECT_EQ(u.usage.cache_read_tokens, 50);
  EXPECT_EQ(u.usage.cache_write_tokens, 0);
  EXPECT_EQ(u.usage.output_tokens, 9);
  EXPECT_EQ(u.usage.reasoning_tokens, 3);
  EXPECT_EQ(u.usage.total_tokens(), 209);
  EXPECT_NEAR(u.usage.cost_usd, (150 * kGpt5In + 50 * kGpt5Cached + 9 * kGpt5Out) / 1e6, 1e-15);
  EXPECT_NEAR(u.usage.cost_usd, 0.00028375, 1e-15);
  EXPECT_TRUE(u.cost_estimated);
  EXPECT_FALSE(u.cost_default_price);
  EXPECT_EQ(u.result.text, "Hello from the fake codex model.");
  EXPECT_EQ(u.last_text.text, "Hello from the fake codex model.");
  EXPECT_TRUE(u.has_result);
  EXPECT_FALSE(u.is_error);
  EXPECT_EQ(u.lines, 4);
  EXPECT_EQ(u.malformed_lines + u.unknown_lines, 0);
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(true));
}

TEST(CodexStreamTest, UsageIsChargedWhenTheTurnCompletes) {
  std::vector<std::string> lines = FixtureLines("codex_tool_exec.jsonl");
  ASSERT_EQ(lines.size(), 6u);
  CodexStream s("gpt-5");
  for (size_t i = 0; i < 5; ++i) s.Feed(lines[i]);
  EXPECT_TRUE(s.TakeDelta().empty());
  EXPECT_EQ(s.Succeeded(), std::nullopt);
  EXPECT_EQ(s.usage().last_text.text, "The command printed hi.");
  s.Feed(lines[5]);
  UsageDelta d = s.TakeDelta();
  EXPECT_EQ(d.input_tokens, 400);
  EXPECT_EQ(d.cache_read_tokens, 300);
  EXPECT_EQ(d.output_tokens, 28);
  EXPECT_NEAR(d.cost_usd, (400 * kGpt5In + 300 * kGpt5Cached + 28 * kGpt5Out) / 1e6, 1e-15);
  EXPECT_TRUE(s.TakeDelta().empty());
  EXPECT_EQ(s.usage().result.text, "The command printed hi.");
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(true));
}

TEST(CodexStreamTest, TheUnknownModelNoticeIsAWarningNotAFailure) {
  CodexStream s("my-gateway-model");
  FeedFixture(s, "codex_unknown_model_tool.jsonl");
  const AgentUsage& u = s.usage();
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(true));
  EXPECT_FALSE(u.is_error);
  EXPECT_EQ(u.warnings, 1);
  EXPECT_EQ(u.last_warning.text.rfind("Model metadata for `my-gateway-model` not found.", 0), 0u)
      << u.last_warning.text;
  EXPECT_EQ(u.error_message.text, "");
  EXPECT_EQ(u.result.text, "Done: it printed hi.");
  EXPECT_EQ(u.usage.input_tokens, 240);
  EXPECT_EQ(u.usage.output_tokens, 18);
  // Not in the table: the built-in default rate ($5 in, $25 out), flagged.
  EXPECT_TRUE(u.cost_default_price);
  EXPECT_NEAR(u.usage.cost_usd, (240 * 5.0 + 18 * 25.0) / 1e6, 1e-15);
}

TEST(CodexStreamTest, FailedTurnsFailTheRunWithCodexsMessage) {
  struct Case {
    const char* fixture;
    const char* message;
  } cases[] = {
      {"codex_api_error_500.jsonl",
       "We’re currently experiencing high demand, which may cause temporary errors."},
      {"codex_api_error_400.jsonl",
       R"({"error":{"type":"invalid_request_error","code":null,"message":"fake: bad request body"}})"},
      {"codex_response_failed.jsonl",
       "stream disconnected before completion: fake: response failed"},
      {"codex_stall_idle_timeout.jsonl",
       "stream disconnected before completion: idle timeout waiting for SSE"},
  };
  for (const Case& c : cases) {
    CodexStream s("gpt-5");
    FeedFixture(s, c.fixture);
    const AgentUsage& u = s.usage();
    EXPECT_EQ(s.Succeeded(), std::optional<bool>(false)) << c.fixture;
    EXPECT_TRUE(u.is_error) << c.fixture;
    EXPECT_TRUE(u.has_result) << c.fixture;
    EXPECT_EQ(u.turns, 1) << c.fixture;
    EXPECT_EQ(u.error_message.text, c.message) << c.fixture;
    EXPECT_EQ(u.usage.total_tokens(), 0) << c.fixture;
    EXPECT_EQ(u.usage.cost_usd, 0) << c.fixture;
    EXPECT_EQ(u.result.text, "") << c.fixture;
  }
}

TEST(CodexStreamTest, AKilledStallHasNoVerdict) {
  CodexStream s("gpt-5");
  FeedFixture(s, "codex_stall_killed.jsonl");
  EXPECT_EQ(s.Succeeded(), std::nullopt);
  EXPECT_FALSE(s.usage().has_result);
  EXPECT_EQ(s.usage().session_id, "01a23609-af85-7681-8c69-d0888972bb33");
  EXPECT_EQ(s.usage().turns, 0);
}

TEST(CodexStreamTest, AResumedThreadIsChargedOnlyPastItsBaseline) {
  // The first run of this thread reported 10 in / 5 out; the resumed run's turn.completed
  // says 60 / 11: the thread's running total.
  CodexThreadTotals first;
  first.input_tokens = 10;
  first.output_tokens = 5;
  CodexStream resumed("gpt-5");
  resumed.SetThreadBaseline(first);
  FeedFixture(resumed, "codex_resume.jsonl");
  EXPECT_EQ(resumed.usage().usage.input_tokens, 50);
  EXPECT_EQ(resumed.usage().usage.output_tokens, 6);
  EXPECT_NEAR(resumed.usage().usage.cost_usd, (50 * kGpt5In + 6 * kGpt5Out) / 1e6, 1e-15);
  EXPECT_EQ(resumed.thread_totals().input_tokens, 60);
  EXPECT_EQ(resumed.thread_totals().output_tokens, 11);
  EXPECT_EQ(resumed.usage().result.text, "Second answer, with the history.");

  // Without the baseline the earlier run's tokens are charged again.
  CodexStream naive("gpt-5");
  FeedFixture(naive, "codex_resume.jsonl");
  EXPECT_EQ(naive.usage().usage.input_tokens, 60);
  EXPECT_EQ(naive.usage().usage.output_tokens, 11);
}

TEST(CodexStreamTest, SuccessiveTurnsOfAThreadAreChargedTheirDifference) {
  CodexStream s("gpt-5");
  s.Feed(R"({"type":"thread.started","thread_id":"t"})");
  s.Feed(R"({"type":"turn.started"})");
  s.Feed(R"({"type":"item.completed","item":{"id":"i0","type":"agent_message","text":"one"}})");
  s.Feed(R"({"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":20,)"
         R"("output_tokens":10,"reasoning_output_tokens":4}})");
  UsageDelta d = s.TakeDelta();
  EXPECT_EQ(d.input_tokens, 80);
  EXPECT_EQ(d.cache_read_tokens, 20);
  EXPECT_EQ(d.output_tokens, 10);
  EXPECT_EQ(d.reasoning_tokens, 4);
  s.Feed(R"({"type":"turn.started"})");
  s.Feed(R"({"type":"turn.completed","usage":{"input_tokens":250,"cached_input_tokens":120,)"
         R"("output_tokens":25,"reasoning_output_tokens":4}})");
  d = s.TakeDelta();
  EXPECT_EQ(d.input_tokens, 50);
  EXPECT_EQ(d.cache_read_tokens, 100);
  EXPECT_EQ(d.output_tokens, 15);
  EXPECT_EQ(d.reasoning_tokens, 0);
  EXPECT_EQ(s.usage().turns, 2);
  EXPECT_EQ(s.usage().result.text, "") << "the second turn said nothing";
  EXPECT_EQ(s.usage().last_text.text, "one");
  // A total lower than the last one is a new counter: charged whole.
  s.Feed(R"({"type":"turn.completed","usage":{"input_tokens":30,"output_tokens":2}})");
  d = s.TakeDelta();
  EXPECT_EQ(d.input_tokens, 30);
  EXPECT_EQ(d.output_tokens, 2);
  EXPECT_EQ(s.usage().usage.input_tokens, 160);
  EXPECT_EQ(s.usage().usage.cache_read_tokens, 120);
  EXPECT_EQ(s.usage().usage.output_tokens, 27);
  // A failed turn after completed ones fails the run.
  s.Feed(R"({"type":"turn.failed","error":{"message":"boom"}})");
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(false));
  EXPECT_EQ(s.usage().error_message.text, "boom");
}

TEST(CodexStreamTest, AnErrorLineInATurnThatCompletesIsAWarning) {
  CodexStream s("gpt-5");
  s.Feed(R"({"type":"thread.started","thread_id":"t"})");
  s.Feed(R"({"type":"turn.started"})");
  s.Feed(R"({"type":"error","message":"Reconnecting... 1/5"})");
  EXPECT_EQ(s.usage().error_message.text, "Reconnecting... 1/5");
  s.Feed(R"({"type":"item.completed","item":{"id":"i0","type":"agent_message","text":"ok"}})");
  s.Feed(R"({"type":"turn.completed","usage":{"input_tokens":10,"output_tokens":1}})");
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(true));
  EXPECT_EQ(s.usage().error_message.text, "");
  EXPECT_EQ(s.usage().warnings, 1);
  EXPECT_EQ(s.usage().last_warning.text, "Reconnecting... 1/5");
  EXPECT_EQ(s.usage().result.text, "ok");
}

TEST(CodexStreamTest, HostileInputIsCountedNeverFatal) {
  CodexStream s("gpt-5");
  s.Feed("");
  s.Feed("{\"type\":");
  s.Feed("null");
  s.Feed(std::string(10 * 1024 * 1024, ' ') + R"({"type":"turn.failed","error":{"message":"x"}})");
  s.Feed(R"({"type":"session.configured"})");
  s.Feed(R"({"type":["turn.completed"]})");
  s.Feed(R"({"type":"item.completed","item":"agent_message"})");
  s.Feed(R"({"type":"item.completed","item":{"type":"agent_message","text":42}})");
  s.Feed(R"({"type":"thread.started","thread_id":{"id":1}})");
  s.Feed(R"({"type":"turn.completed","usage":{"input_tokens":"500","cached_input_tokens":-1,)"
         R"("output_tokens":2.5,"reasoning_output_tokens":true}})");
  s.Feed(R"({"type":"turn.completed"})");  // no usage at all
  s.Feed(R"({"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":40}})");
  const AgentUsage& u = s.usage();
  EXPECT_EQ(u.lines, 12);
  EXPECT_EQ(u.malformed_lines, 4);
  EXPECT_EQ(u.oversized_lines, 1);
  EXPECT_EQ(u.unknown_lines, 2);
  EXPECT_EQ(u.session_id, "");
  EXPECT_EQ(u.turns, 3);
  EXPECT_FALSE(u.is_error);  // the oversized turn.failed was never read
  EXPECT_EQ(s.Succeeded(), std::optional<bool>(true));
  // cached > input: input clamps at 0, the cached tokens count.
  EXPECT_EQ(u.usage.input_tokens, 0);
  EXPECT_EQ(u.usage.cache_read_tokens, 40);
  EXPECT_EQ(u.usage.output_tokens, 0);
}

TEST(CodexStreamTest, StoredTextIsBounded) {
  CodexStream s("gpt-5");
  std::string big(100 * 1024, 'z');
  s.Feed(R"({"type":"item.completed","item":{"type":"agent_message","text":")" + big + R"("}})");
  s.Feed(R"({"type":"turn.failed","error":{"message":")" + big + R"("}})");
  EXPECT_EQ(s.usage().last_text.text.size(), AgentUsage::kTextMaxBytes);
  EXPECT_TRUE(s.usage().last_text.truncated);
  EXPECT_EQ(s.usage().error_message.text.size(), AgentUsage::kMessageMaxBytes);
  EXPECT_TRUE(s.usage().error_message.truncated);
}

}  // namespace
}  // namespace overseer::service
