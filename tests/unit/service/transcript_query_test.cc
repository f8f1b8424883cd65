// Queries::Transcript through the service harness: the worker's log (its rotated backup first)
// is read by the runtime its job's stored task names, in the caller's workspace only.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "unit/service/agent_fixtures.h"
#include "unit/service/harness.h"

namespace overseer::service::testing {
namespace {

const Caller kOperator{"ws", ""};

class TranscriptQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/overseer-transcript-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/logs");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  SupervisorOptions Options() const {
    SupervisorOptions o = HarnessOptions();
    o.state_dir = dir_;
    return o;
  }
  // A job whose stored task names `runtime` (the harness's fake launcher runs nothing); its
  // worker id.
  std::string WorkerWithRuntime(ServiceHarness& h, const std::string& runtime) {
    JobSpec spec = CommandJob(1);
    spec.task.canonical_json = R"({"runtime":")" + runtime + R"(","prompt":"hi"})";
    Result<core::Job> job = h.Submit(spec);
    EXPECT_TRUE(job.ok()) << job.error().message;
    if (!job.ok()) return "";
    return h.WorkersOf(job->id).at(0).id;
  }
  void WriteLog(const std::string& path, const std::vector<std::string>& lines) {
    std::ofstream out(path, std::ios::binary);
    for (const std::string& l : lines) out << l << "\n";
  }
  std::string LogOf(const std::string& worker_id) const {
    return dir_ + "/logs/" + worker_id + ".log";
  }

  std::string dir_;
};

std::vector<TranscriptKind> Kinds(const std::vector<TranscriptEntry>& es) {
  std::vector<TranscriptKind> out;
  for (const TranscriptEntry& e : es) out.push_back(e.kind);
  return out;
}

TEST_F(TranscriptQueryTest, AClaudeWorkersStreamIsParsedAcrossTheRotatedBackup) {
  ServiceHarness h(Options());
  const std::string w = WorkerWithRuntime(h, "claude");
  ASSERT_FALSE(w.empty());
  std::vector<std::string> lines = FixtureLines("claude_tool_bash.jsonl");
  ASSERT_GT(lines.size(), 6u);
  // A rotation left the first half in the backup; stderr noise is in between.
  std::vector<std::string> first(lines.begin(), lines.begin() + 6);
  first.push_back("Warning: no stdin data received in 3s");
  WriteLog(LogOf(w) + ".1", first);
  WriteLog(LogOf(w), std::vector<std::string>(lines.begin() + 6, lines.end()));
  Result<std::vector<TranscriptEntry>> t = h.Run(h.sup().queries().Transcript(kOperator, w, 100));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(Kinds(*t), (std::vector{TranscriptKind::kText, TranscriptKind::kToolCall,
                                    TranscriptKind::kToolResult, TranscriptKind::kText,
                                    TranscriptKind::kResult}));
  t = h.Run(h.sup().queries().Transcript(kOperator, w, 1));
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ((*t)[0].text, "The command printed hi.");
  // Another workspace does not see it.
  Result<std::vector<TranscriptEntry>> other =
      h.Run(h.sup().queries().Transcript(Caller{"other", ""}, w, 100));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, ErrorCode::kNotFound);
}

TEST_F(TranscriptQueryTest, ACodexWorkerAndACommandWorker) {
  ServiceHarness h(Options());
  const std::string codex = WorkerWithRuntime(h, "codex");
  const std::string command = WorkerWithRuntime(h, "command");
  ASSERT_FALSE(codex.empty() || command.empty());
  WriteLog(LogOf(codex), FixtureLines("codex_tool_exec.jsonl"));
  WriteLog(LogOf(command), FixtureLines("codex_tool_exec.jsonl"));
  Result<std::vector<TranscriptEntry>> t =
      h.Run(h.sup().queries().Transcript(kOperator, codex, 100));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(Kinds(*t), (std::vector{TranscriptKind::kToolCall, TranscriptKind::kToolResult,
                                    TranscriptKind::kText, TranscriptKind::kResult}));
  // The same lines from a command are its output: one text entry each.
  t = h.Run(h.sup().queries().Transcript(kOperator, command, 100));
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_EQ(t->size(), 6u);
  for (const TranscriptEntry& e : *t) EXPECT_EQ(e.kind, TranscriptKind::kText);
}

TEST_F(TranscriptQueryTest, NoLogYetIsEmptyAndAnUnknownWorkerIsNotFound) {
  ServiceHarness h(Options());
  const std::string w = WorkerWithRuntime(h, "claude");
  Result<std::vector<TranscriptEntry>> t = h.Run(h.sup().queries().Transcript(kOperator, w, 10));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t->empty());
  t = h.Run(h.sup().queries().Transcript(kOperator, "w_missing", 10));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace overseer::service::testing
