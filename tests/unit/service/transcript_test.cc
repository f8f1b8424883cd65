// TranscriptBuilder on the real CLIs' output (tests/fixtures/agents) and on hostile lines.
#include "service/runtimes/transcript.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "unit/service/agent_fixtures.h"

namespace overseer::service {
namespace {

namespace json = boost::json;
using testing::FixtureLines;

constexpr TranscriptKind kText = TranscriptKind::kText;
constexpr TranscriptKind kCall = TranscriptKind::kToolCall;
constexpr TranscriptKind kToolResult = TranscriptKind::kToolResult;
constexpr TranscriptKind kResult = TranscriptKind::kResult;

std::vector<TranscriptEntry> Build(TranscriptFormat format, const std::string& fixture,
                                   size_t max_entries = 100) {
  TranscriptBuilder b(format, max_entries);
  for (const std::string& line : FixtureLines(fixture)) b.Feed(line);
  return b.TakeEntries();
}

std::vector<TranscriptKind> Kinds(const std::vector<TranscriptEntry>& es) {
  std::vector<TranscriptKind> out;
  for (const TranscriptEntry& e : es) out.push_back(e.kind);
  return out;
}

std::string_view CutMarker() { return TranscriptBuilder::kCutMarker; }

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
}

TEST(TranscriptTest, FormatFollowsTheRuntime) {
  EXPECT_EQ(TranscriptFormatFor("claude"), TranscriptFormat::kClaude);
  EXPECT_EQ(TranscriptFormatFor("codex"), TranscriptFormat::kCodex);
  EXPECT_EQ(TranscriptFormatFor("command"), TranscriptFormat::kLines);
  EXPECT_EQ(TranscriptFormatFor(""), TranscriptFormat::kLines);
  EXPECT_EQ(TranscriptKindName(kCall), "tool_call");
  EXPECT_EQ(TranscriptKindName(kToolResult), "tool_result");
}

TEST(TranscriptTest, ClaudeToolCallWithItsResultAndTheFinalAnswer) {
  TranscriptBuilder b(TranscriptFormat::kClaude, 100);
  for (const std::string& line : FixtureLines("claude_tool_bash.jsonl")) b.Feed(line);
  std::vector<TranscriptEntry> es = b.TakeEntries();
  ASSERT_EQ(Kinds(es), (std::vector{kText, kCall, kToolResult, kText, kResult}));
  EXPECT_EQ(es[0].text, "I will run it.");
  EXPECT_EQ(es[1].tool, "Bash");
  EXPECT_EQ(es[1].input, json::parse(R"({"command":"echo hi","description":"Print hi"})"));
  EXPECT_FALSE(es[1].text.has_value());
  EXPECT_EQ(es[2].text, "hi");
  EXPECT_EQ(es[2].is_error, std::optional<bool>(false));
  EXPECT_EQ(es[2].time, "2026-12-02T09:15:10.572Z");
  EXPECT_EQ(es[3].text, "The command printed hi.");
  EXPECT_EQ(es[4].text, "The command printed hi.");
  EXPECT_EQ(es[4].is_error, std::optional<bool>(false));
  // stream_event and system lines make no entry and are not errors.
  EXPECT_EQ(b.stats().malformed_lines, 0);
  EXPECT_GT(b.stats().lines, 5);
}

TEST(TranscriptTest, ClaudeDeniedToolIsAnErrorResult) {
  std::vector<TranscriptEntry> es =
      Build(TranscriptFormat::kClaude, "claude_permission_denied.jsonl");
  ASSERT_EQ(Kinds(es), (std::vector{kCall, kToolResult, kText, kResult}));
  EXPECT_EQ(es[0].input.at("command"), "touch made-by-agent.txt");
  EXPECT_EQ(es[1].is_error, std::optional<bool>(true));
  EXPECT_NE(es[1].text->find("was blocked"), std::string::npos);
  EXPECT_EQ(es[3].is_error, std::optional<bool>(false));
}

TEST(TranscriptTest, ClaudeApiErrorAndMaxTurnsEndInAnErrorResult) {
  std::vector<TranscriptEntry> es = Build(TranscriptFormat::kClaude, "claude_api_error_500.jsonl");
  ASSERT_EQ(Kinds(es), (std::vector{kText, kResult}));
  EXPECT_EQ(es[1].is_error, std::optional<bool>(true));
  EXPECT_EQ(es[1].text->rfind("API Error: 500", 0), 0u);

  es = Build(TranscriptFormat::kClaude, "claude_max_turns.jsonl");
  ASSERT_EQ(Kinds(es), (std::vector{kCall, kToolResult, kResult}));
  // No result text: the subtype and the first error say what happened.
  EXPECT_EQ(es[2].text, "error_max_turns: Reached maximum number of turns (1)");
  EXPECT_EQ(es[2].is_error, std::optional<bool>(true));
}

TEST(TranscriptTest, ClaudeKilledRunHasNoResult) {
  std::vector<TranscriptEntry> es = Build(TranscriptFormat::kClaude, "claude_stall_killed.jsonl");
  for (const TranscriptEntry& e : es) EXPECT_NE(e.kind, kResult);
}

TEST(TranscriptTest, CodexCommandExecutionIsACallAndItsOutput) {
  std::vector<TranscriptEntry> es = Build(TranscriptFormat::kCodex, "codex_tool_exec.jsonl");
  ASSERT_EQ(Kinds(es), (std::vector{kCall, kToolResult, kText, kResult}));
  EXPECT_EQ(es[0].tool, "command");
  EXPECT_EQ(es[0].input, json::parse(R"({"command":"/bin/bash -lc 'echo hi'"})"));
  EXPECT_EQ(es[1].text, "hi\n");
  EXPECT_EQ(es[1].is_error, std::optional<bool>(false));
  EXPECT_EQ(es[2].text, "The command printed hi.");
  EXPECT_EQ(es[3].text, "The command printed hi.");
  EXPECT_EQ(es[3].is_error, std::optional<bool>(false));
}

TEST(TranscriptTest, CodexErrorItemIsAnErrorNoticeNotTheResult) {
  std::vector<TranscriptEntry> es =
      Build(TranscriptFormat::kCodex, "codex_unknown_model_tool.jsonl");
  ASSERT_EQ(Kinds(es), (std::vector{kText, kCall, kToolResult, kText, kResult}));
  EXPECT_EQ(es[0].is_error, std::optional<bool>(true));
  EXPECT_EQ(es[0].text->rfind("Model metadata for `my-gateway-model` not found", 0), 0u);
  EXPECT_EQ(es[4].text, "Done: it printed hi.");
  EXPECT_EQ(es[4].is_error, std::optional<bool>(false));
}

TEST(TranscriptTest, CodexFailedTurnIsOneErrorResult) {
  for (const char* f : {"codex_api_error_500.jsonl", "codex_api_error_400.jsonl",
                        "codex_response_failed.jsonl", "codex_stall_idle_timeout.jsonl"}) {
    std::vector<TranscriptEntry> es = Build(TranscriptFormat::kCodex, f);
    ASSERT_EQ(Kinds(es), (std::vector{kResult})) << f;
    EXPECT_EQ(es[0].is_error, std::optional<bool>(true)) << f;
    ASSERT_TRUE(es[0].text.has_value()) << f;
    EXPECT_FALSE(es[0].text->empty()) << f;
  }
  std::vector<TranscriptEntry> es = Build(TranscriptFormat::kCodex, "codex_response_failed.jsonl");
  EXPECT_EQ(es[0].text, "stream disconnected before completion: fake: response failed");
  EXPECT_TRUE(Build(TranscriptFormat::kCodex, "codex_stall_killed.jsonl").empty());
}

TEST(TranscriptTest, CodexErrorLineOfATurnThatCompletesStays) {
  TranscriptBuilder b(TranscriptFormat::kCodex, 10);
  b.Feed(R"({"type":"turn.started"})");
  b.Feed(R"({"type":"error","message":"Reconnecting... 1/5"})");
  b.Feed(R"({"type":"item.completed","item":{"id":"i","type":"agent_message","text":"ok"}})");
  b.Feed(R"({"type":"turn.completed","usage":{}})");
  std::vector<TranscriptEntry> es = b.TakeEntries();
  ASSERT_EQ(Kinds(es), (std::vector{kText, kText, kResult}));
  EXPECT_EQ(es[0].text, "Reconnecting... 1/5");
  EXPECT_EQ(es[0].is_error, std::optional<bool>(true));
  EXPECT_EQ(es[2].text, "ok");
}

TEST(TranscriptTest, CodexOtherItemsAreCallsNamedByTheirType) {
  TranscriptBuilder b(TranscriptFormat::kCodex, 10);
  b.Feed(R"({"type":"item.completed","item":{"id":"i1","type":"file_change",)"
         R"("changes":[{"path":"a.txt","kind":"add"}],"status":"completed"}})");
  b.Feed(R"({"type":"item.completed","item":{"id":"i2","type":"reasoning","text":"hmm"}})");
  b.Feed(R"({"type":"item.completed","item":{"id":"i3","type":"command_execution",)"
         R"("command":"false","aggregated_output":"","exit_code":1,"status":"failed"}})");
  std::vector<TranscriptEntry> es = b.TakeEntries();
  ASSERT_EQ(Kinds(es), (std::vector{kCall, kCall, kToolResult}));
  EXPECT_EQ(es[0].tool, "file_change");
  EXPECT_EQ(es[0].input,
            json::parse(R"({"changes":[{"path":"a.txt","kind":"add"}],"status":"completed"})"));
  EXPECT_EQ(es[2].is_error, std::optional<bool>(true));
}

TEST(TranscriptTest, CommandOutputIsOneTextEntryPerLine) {
  TranscriptBuilder b(TranscriptFormat::kLines, 10);
  b.Feed("hello");
  b.Feed("{\"type\":\"result\"}\r");
  b.Feed("");
  b.Feed("bad \xff byte");
  std::vector<TranscriptEntry> es = b.TakeEntries();
  ASSERT_EQ(Kinds(es), (std::vector{kText, kText, kText, kText}));
  EXPECT_EQ(es[0].text, "hello");
  EXPECT_EQ(es[1].text, "{\"type\":\"result\"}");
  EXPECT_EQ(es[2].text, "");
  EXPECT_EQ(es[3].text, "bad \xEF\xBF\xBD byte");  // U+FFFD: the answer is UTF-8
  EXPECT_FALSE(es[0].is_error.has_value());
}

TEST(TranscriptTest, KeepsOnlyTheLastEntries) {
  TranscriptBuilder b(TranscriptFormat::kLines, 3);
  for (int i = 0; i < 10; ++i) b.Feed("line " + std::to_string(i));
  ASSERT_EQ(b.entries().size(), 3u);
  EXPECT_EQ(b.entries()[0].text, "line 7");
  EXPECT_EQ(b.entries()[2].text, "line 9");
  EXPECT_EQ(b.stats().dropped_entries, 7);

  std::vector<TranscriptEntry> es = Build(TranscriptFormat::kClaude, "claude_tool_bash.jsonl", 2);
  ASSERT_EQ(Kinds(es), (std::vector{kText, kResult}));
  EXPECT_EQ(es[0].text, "The command printed hi.");
}

TEST(TranscriptTest, LongStringsAreCutAndMarked) {
  const std::string big(100 * 1024, 'x');
  TranscriptBuilder b(TranscriptFormat::kClaude, 10);
  json::object tool_use{{"type", "tool_use"},
                        {"name", std::string(1000, 'n')},
                        {"input", json::object{{"command", big}}}};
  json::object text{{"type", "text"}, {"text", big}};
  b.Feed(json::serialize(json::object{
      {"type", "assistant"}, {"message", json::object{{"content", json::array{text, tool_use}}}}}));
  b.Feed(json::serialize(json::object{
      {"type", "user"},
      {"message",
       json::object{
           {"content", json::array{json::object{
                           {"type", "tool_result"},
                           {"content", json::array{json::object{{"type", "text"}, {"text", big}},
                                                   json::object{{"type", "image"}}}},
                       }}}}}}));
  b.Feed(json::serialize(json::object{{"type", "result"}, {"result", big}, {"is_error", true}}));
  std::vector<TranscriptEntry> es = b.TakeEntries();
  ASSERT_EQ(Kinds(es), (std::vector{kText, kCall, kToolResult, kResult}));
  EXPECT_EQ(es[0].text->size(), TranscriptBuilder::kTextMaxBytes + CutMarker().size());
  EXPECT_TRUE(EndsWith(*es[0].text, CutMarker()));
  EXPECT_EQ(es[1].tool.size(), TranscriptBuilder::kToolNameMaxBytes);
  // An input too big to keep whole becomes a string: its cut serialization.
  ASSERT_TRUE(es[1].input.is_string());
  std::string input(es[1].input.as_string());
  EXPECT_EQ(input.rfind("{\"command\":\"xxx", 0), 0u);
  EXPECT_EQ(input.size(), TranscriptBuilder::kInputMaxBytes + CutMarker().size());
  EXPECT_EQ(es[2].text->size(), TranscriptBuilder::kToolResultMaxBytes + CutMarker().size());
  EXPECT_EQ(es[3].text->size(), TranscriptBuilder::kResultMaxBytes + CutMarker().size());

  TranscriptBuilder lines(TranscriptFormat::kLines, 10);
  lines.Feed(big);
  lines.Feed("start of a longer line", /*cut=*/true);
  ASSERT_EQ(lines.entries().size(), 2u);
  EXPECT_EQ(lines.entries()[0].text->size(), TranscriptBuilder::kTextMaxBytes + CutMarker().size());
  EXPECT_EQ(lines.entries()[1].text, "start of a longer line" + std::string(CutMarker()));
}

TEST(TranscriptTest, CutsFallBetweenCharacters) {
  // "é" is 2 bytes: an odd bound would split one.
  std::string accents;
  for (size_t i = 0; i < TranscriptBuilder::kTextMaxBytes; ++i) accents += "\xC3\xA9";
  TranscriptBuilder b(TranscriptFormat::kCodex, 10);
  b.Feed(json::serialize(
      json::object{{"type", "item.completed"},
                   {"item", json::object{{"type", "agent_message"}, {"text", accents}}}}));
  b.Feed(std::string("x\xC3\xA9") + std::string(TranscriptBuilder::kTextMaxBytes, 'y'));
  ASSERT_EQ(b.entries().size(), 1u);
  std::string cut = *b.entries()[0].text;
  cut.resize(cut.size() - CutMarker().size());
  EXPECT_EQ(cut.size() % 2, 0u);
  EXPECT_EQ(b.stats().malformed_lines, 1);
}

TEST(TranscriptTest, HostileLinesAreSkippedAndCounted) {
  TranscriptBuilder b(TranscriptFormat::kClaude, 10);
  const std::vector<std::string> hostile = {
      "",
      "not json",
      "Warning: no stdin data received in 3s",
      "[1,2,3]",
      "\"a string\"",
      "{\"type\":",
      "{\"type\":\"assistant\"}",
      "{\"type\":\"assistant\",\"message\":\"x\"}",
      "{\"type\":\"assistant\",\"message\":{\"content\":\"text\"}}",
      "{\"type\":\"assistant\",\"message\":{\"content\":[1,null,{\"type\":7},"
      "{\"type\":\"text\",\"text\":5},{\"type\":\"tool_use\",\"name\":[],\"input\":null}]}}",
      "{\"type\":\"user\",\"message\":{\"content\":[{\"type\":\"tool_result\",\"content\":{}}]}}",
      "{\"type\":\"result\",\"result\":null,\"is_error\":\"yes\",\"errors\":[3]}",
      "{\"type\":42}",
      "{\"type\":\"stream_event\",\"event\":{}}",
      "{\"type\":\"system\",\"subtype\":\"init\"}",
      std::string(5 * 1024 * 1024, '{'),
      "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"\xff\"}]}}",
  };
  for (const std::string& line : hostile) b.Feed(line);
  b.Feed("{\"type\":\"assistant\"", /*cut=*/true);
  std::vector<TranscriptEntry> es = b.TakeEntries();
  // What is left: a nameless call with an empty input, an empty tool result, a bare result.
  ASSERT_EQ(Kinds(es), (std::vector{kCall, kToolResult, kResult}));
  EXPECT_EQ(es[0].tool, "");
  EXPECT_EQ(es[0].input, json::object());
  EXPECT_EQ(es[1].text, "");
  EXPECT_EQ(es[2].is_error, std::optional<bool>(false));
  EXPECT_FALSE(es[2].text.has_value());
  EXPECT_EQ(b.stats().lines, static_cast<int64_t>(hostile.size()) + 1);
  EXPECT_EQ(b.stats().oversized_lines, 2);
  // "", not json, Warning, [1,2,3], "a string", {"type":, 5 MiB, invalid UTF-8, the cut one.
  EXPECT_EQ(b.stats().malformed_lines, 9);

  TranscriptBuilder c(TranscriptFormat::kCodex, 10);
  for (const std::string& line : hostile) c.Feed(line);
  c.Feed(R"({"type":"item.completed","item":[]})");
  c.Feed(R"({"type":"item.completed","item":{"type":"command_execution","command":{"x":1},)"
         R"("exit_code":1.5}})");
  c.Feed(R"({"type":"turn.failed","error":"x"})");
  es = c.TakeEntries();
  ASSERT_EQ(Kinds(es), (std::vector{kCall, kToolResult, kResult}));
  EXPECT_EQ(es[0].input, json::parse(R"({"command":{"x":1}})"));
  EXPECT_EQ(es[2].is_error, std::optional<bool>(true));
  EXPECT_FALSE(es[2].text.has_value());
}

}  // namespace
}  // namespace overseer::service
