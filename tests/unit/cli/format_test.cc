// Pure tests of the client commands' formatting and parsing.
#include "cli/format.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

namespace overseer::cli {
namespace {
namespace json = boost::json;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(FormatHaltTest, SaysWhoHaltedHowAndWhyOrThatNothingIs) {
  json::object job{{"id", "j_1"},
                   {"status", "RUNNING"},
                   {"halted", json::object{{"mode", "freeze"},
                                           {"reason", "loop"},
                                           {"by", "alice"},
                                           {"at", "2026-01-02T03:04:05.000Z"},
                                           {"scope", "job"}}}};
  EXPECT_EQ(FormatJobHalt(job),
            "j_1 RUNNING  halted: freeze by alice at 2026-01-02T03:04:05.000Z: loop\n");
  job["halted"] = nullptr;
  EXPECT_EQ(FormatJobHalt(job), "j_1 RUNNING  not halted\n");
  json::object ws{{"workspace_id", "w"},
                  {"halted", json::object{{"mode", "terminate"},
                                          {"reason", "incident"},
                                          {"by", "ops"},
                                          {"at", "2026-01-02T03:04:05.000Z"},
                                          {"scope", "workspace"}}},
                  {"job_ids", json::array{"j_1", "j_2"}}};
  EXPECT_EQ(FormatWorkspaceHalt(ws),
            "workspace w halted: terminate by ops at 2026-01-02T03:04:05.000Z (with the "
            "workspace): incident\nroot jobs: j_1, j_2\n");
  ws["halted"] = nullptr;
  ws["job_ids"] = json::array{};
  EXPECT_EQ(FormatWorkspaceHalt(ws), "workspace w not halted\n");
}

TEST(RenderTableTest, AlignsColumnsOnTheWidestCell) {
  const std::string t = RenderTable(
      {"ID", "NAME", "STATUS"}, {{"j_1", "a-long-name", "RUNNING"}, {"j_22", "b", "COMPLETED"}});
  const auto lines = Lines(t);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "ID    NAME         STATUS");
  EXPECT_EQ(lines[1], "j_1   a-long-name  RUNNING");
  EXPECT_EQ(lines[2], "j_22  b            COMPLETED");
}

TEST(RenderTableTest, NoTrailingSpacesAndShortRowsPadded) {
  const std::string t = RenderTable({"A", "B"}, {{"x"}, {"", "y"}});
  EXPECT_EQ(t, "A  B\nx\n   y\n");
}

TEST(RenderTableTest, HeaderOnlyWhenEmpty) {
  EXPECT_EQ(RenderTable({"ID", "JOB"}, {}), "ID  JOB\n");
}

TEST(FormatAgeTest, PicksTheLargestWholeUnit) {
  EXPECT_EQ(FormatAge(-5000), "0s");
  EXPECT_EQ(FormatAge(0), "0s");
  EXPECT_EQ(FormatAge(59'999), "59s");
  EXPECT_EQ(FormatAge(60'000), "1m");
  EXPECT_EQ(FormatAge(3'599'000), "59m");
  EXPECT_EQ(FormatAge(3'600'000), "1h");
  EXPECT_EQ(FormatAge(47 * 3'600'000LL), "47h");
  EXPECT_EQ(FormatAge(48 * 3'600'000LL), "2d");
  EXPECT_EQ(FormatAge(400 * 86'400'000LL), "400d");
}

TEST(FormatAgeTest, AgeSinceTimestamp) {
  const TimeMs t = *ParseRfc3339("2026-01-01T00:00:00.000Z");
  EXPECT_EQ(AgeSince("2026-01-01T00:00:00.000Z", t + 125'000), "2m");
  EXPECT_EQ(AgeSince("", t), "-");
  EXPECT_EQ(AgeSince("yesterday", t), "-");
}

TEST(FormatElapsedTest, TenthsThenMinutes) {
  EXPECT_EQ(FormatElapsed(0), "0.0s");
  EXPECT_EQ(FormatElapsed(12'345), "12.3s");
  EXPECT_EQ(FormatElapsed(125'000), "2m05s");
}

TEST(ErrorLineTest, CodeAndMessageFromTheErrorBody) {
  EXPECT_EQ(
      ErrorLine(401, R"({"error":{"code":"UNAUTHENTICATED","message":"bad token","details":{}}})"),
      "overseer: UNAUTHENTICATED: bad token");
}

TEST(ErrorLineTest, MultiLineMessageBecomesOneLine) {
  EXPECT_EQ(ErrorLine(409, R"({"error":{"code":"X","message":"a\nb"}})"), "overseer: X: a b");
}

TEST(ErrorLineTest, NonJsonBodyNamesTheHttpStatus) {
  EXPECT_EQ(ErrorLine(502, "Bad Gateway\nmore"), "overseer: HTTP 502: Bad Gateway");
  EXPECT_EQ(ErrorLine(500, ""), "overseer: HTTP 500");
  EXPECT_EQ(ErrorLine(500, R"({"error":"flat"})"), R"(overseer: HTTP 500: {"error":"flat"})");
}

TEST(ErrorLineTest, ClientErrorUsesItsMessage) {
  EXPECT_EQ(ErrorLine(MakeError(ErrorCode::kUnavailable, "cannot reach the daemon")),
            "overseer: cannot reach the daemon");
}

TEST(ParseEnvAssignmentTest, SplitsOnTheFirstEquals) {
  auto kv = ParseEnvAssignment("A=b=c");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "A");
  EXPECT_EQ(kv->second, "b=c");
  auto empty = ParseEnvAssignment("EMPTY=");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->second, "");
}

TEST(ParseEnvAssignmentTest, RejectsMissingKeyOrEquals) {
  auto no_eq = ParseEnvAssignment("NOVALUE");
  ASSERT_FALSE(no_eq.ok());
  EXPECT_EQ(no_eq.error().code, ErrorCode::kInvalidRequest);
  auto no_key = ParseEnvAssignment("=x");
  ASSERT_FALSE(no_key.ok());
  EXPECT_EQ(no_key.error().code, ErrorCode::kInvalidRequest);
}

TEST(RowsTest, WorkerRowFollowsTheHeader) {
  const TimeMs now = *ParseRfc3339("2026-01-01T00:01:00.000Z");
  json::object w = json::parse(R"({"id":"w_1","job_id":"j_1","status":"FAILED","pid":42,
      "exit_code":null,"exit_signal":9,"attempt":2,"created_at":"2026-01-01T00:00:30.000Z"})")
                       .as_object();
  EXPECT_EQ(WorkerHeader(), (Row{"ID", "JOB", "STATUS", "PID", "EXIT", "ATTEMPT", "AGE"}));
  EXPECT_EQ(WorkerRow(w, now), (Row{"w_1", "j_1", "FAILED", "42", "sig9", "2", "30s"}));
  w["pid"] = nullptr;
  w["exit_code"] = 0;
  EXPECT_EQ(WorkerRow(w, now)[3], "-");
  EXPECT_EQ(WorkerRow(w, now)[4], "0");
}

TEST(RowsTest, JobRowFollowsTheHeader) {
  const TimeMs now = *ParseRfc3339("2026-01-01T02:00:00.000Z");
  json::object j = json::parse(R"({"id":"j_1","name":"build","status":"RUNNING","depth":0,
      "worker_count":3,"created_at":"2026-01-01T00:00:00.000Z"})")
                       .as_object();
  EXPECT_EQ(JobHeader(), (Row{"ID", "NAME", "STATUS", "DEPTH", "WORKERS", "AGE"}));
  EXPECT_EQ(JobRow(j, now), (Row{"j_1", "build", "RUNNING", "0", "3", "2h"}));
}

TEST(WaitStatusLineTest, CountsWorkersByOutcome) {
  json::object j = json::parse(R"({"id":"j_1","status":"RUNNING","workers":[
      {"status":"RUNNING"},{"status":"PAUSED"},{"status":"COMPLETED"},{"status":"FAILED"},
      {"status":"TERMINATED"}]})")
                       .as_object();
  const WorkerCounts c = CountWorkers(j);
  EXPECT_EQ(c.running, 2);
  EXPECT_EQ(c.completed, 1);
  EXPECT_EQ(c.failed, 2);
  EXPECT_EQ(WaitStatusLine(j, 3200),
            "j_1 RUNNING  workers: 2 running, 1 completed, 2 failed  elapsed 3.2s");
}

TEST(WaitStatusLineTest, TerminalStatuses) {
  EXPECT_TRUE(IsTerminalJobStatus("COMPLETED"));
  EXPECT_TRUE(IsTerminalJobStatus("FAILED"));
  EXPECT_TRUE(IsTerminalJobStatus("CANCELED"));
  EXPECT_FALSE(IsTerminalJobStatus("RUNNING"));
  EXPECT_FALSE(IsTerminalJobStatus("PENDING"));
}

TEST(FormatJobTreeTest, NestsChildrenBehindGuidesInAlignedColumns) {
  json::object root = json::parse(R"({"id":"j_root","name":"root","status":"CANCELED",
      "status_reason":"CANCEL_REQUESTED","truncated":false,"children":[
        {"id":"j_a","name":"a","status":"CANCELED","status_reason":"PARENT_CANCELED","children":[
          {"id":"j_a1","name":"a1","status":"COMPLETED","status_reason":"ALL_WORKERS_COMPLETED",
           "children":[]}]},
        {"id":"j_b","name":"","status":"RUNNING","status_reason":"","children":[
          {"id":"j_b1","name":"b1","status":"PENDING","children":[]}]}]})")
                          .as_object();
  EXPECT_EQ(FormatJobTree(root),
            "j_root      CANCELED (CANCEL_REQUESTED)  root\n"
            "├─ j_a      CANCELED (PARENT_CANCELED)   a\n"
            "│  └─ j_a1  COMPLETED                    a1\n"
            "└─ j_b      RUNNING                      -\n"
            "   └─ j_b1  PENDING                      b1\n");
}

TEST(FormatJobTreeTest, LoneJobAndTruncatedTree) {
  json::object one =
      json::parse(R"({"id":"j_1","name":"n","status":"RUNNING","children":[]})").as_object();
  EXPECT_EQ(FormatJobTree(one), "j_1  RUNNING  n\n");
  one["truncated"] = true;
  EXPECT_EQ(FormatJobTree(one), "j_1  RUNNING  n\n(truncated: the deepest jobs are left out)\n");
}

TEST(DetailTest, JobDetailListsCommandAndWorkersTable) {
  const TimeMs now = *ParseRfc3339("2026-01-01T00:00:10.000Z");
  json::object j =
      json::parse(R"({"id":"j_1","name":"n","status":"FAILED","status_reason":"WORKER_FAILED",
      "depth":0,"parent_job_id":null,"worker_count":1,"task":{"runtime":"command","command":["sh","-c","exit 3"]},
      "created_at":"2026-01-01T00:00:00.000Z","workers":[{"id":"w_1","job_id":"j_1","status":"FAILED",
      "pid":7,"exit_code":3,"attempt":1,"created_at":"2026-01-01T00:00:00.000Z"}]})")
          .as_object();
  const std::string text = FormatJobDetail(j, now);
  EXPECT_NE(text.find("Status:       FAILED (WORKER_FAILED)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Command:      sh -c exit 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Parent:       -\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ID   JOB  STATUS  PID  EXIT  ATTEMPT  AGE\n"
                      "w_1  j_1  FAILED  7    3     1        10s\n"),
            std::string::npos)
      << text;
}

TEST(DetailTest, WorkerDetailListsTransitions) {
  const TimeMs now = *ParseRfc3339("2026-01-01T00:00:10.000Z");
  json::object w = json::parse(R"({"id":"w_1","job_id":"j_1","status":"PAUSED","pid":7,"attempt":1,
      "usage":{"cpu_seconds":0.5,"rss_bytes":1048576,"processes":2},
      "transitions":[{"from_state":null,"to_state":"IDLE","reason":"CREATED","timestamp":"t0"},
                     {"from_state":"IDLE","to_state":"RUNNING","reason":"SPAWNED","timestamp":"t1"}]})")
                       .as_object();
  const std::string text = FormatWorkerDetail(w, now);
  EXPECT_NE(text.find("Usage:        cpu 0.50s, rss 1.0 MiB, 2 processes\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("FROM  TO       REASON   TIME\n"
                      "-     IDLE     CREATED  t0\n"
                      "IDLE  RUNNING  SPAWNED  t1\n"),
            std::string::npos)
      << text;
}

TEST(QuotasTableTest, OneRowPerDepthInTheDaemonsOrder) {
  json::object q = json::parse(R"({"max_depth":2,"quotas":[
      {"depth":0,"max_workers":10,"used":3,"available":7},
      {"depth":1,"max_workers":8,"used":0,"available":8},
      {"depth":2,"max_workers":1000,"used":1200,"available":0}]})")
                       .as_object();
  EXPECT_EQ(FormatQuotas(q),
            "DEPTH  MAX_WORKERS  USED  AVAILABLE\n"
            "0      10           3     7\n"
            "1      8            0     8\n"
            "2      1000         1200  0\n");
}

TEST(QuotasTableTest, HeaderOnlyWithoutRows) {
  EXPECT_EQ(FormatQuotas(json::object{}), "DEPTH  MAX_WORKERS  USED  AVAILABLE\n");
}

TEST(UsageTableTest, WarnsAtNinetyThenEightyPercent) {
  json::object u = json::parse(R"({"usage":[
      {"depth":0,"quota":10,"used":9,"available":1,"warn_80":true,"warn_90":true},
      {"depth":1,"quota":5,"used":4,"available":1,"warn_80":true,"warn_90":false},
      {"depth":2,"quota":3,"used":0,"available":3,"warn_80":false,"warn_90":false}],
      "total_used":13})")
                       .as_object();
  EXPECT_EQ(FormatUsage(u),
            "DEPTH  QUOTA  USED  AVAILABLE  WARN\n"
            "0      10     9     1          90%\n"
            "1      5      4     1          80%\n"
            "2      3      0     3          -\n"
            "total used: 13\n");
}

TEST(ParseQuotaAssignmentTest, DepthEqualsMaxWorkers) {
  auto q = ParseQuotaAssignment("0=2");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, std::make_pair(0, 2));
  auto big = ParseQuotaAssignment("12=10000");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(*big, std::make_pair(12, 10000));
  auto zero = ParseQuotaAssignment("3=0");
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->second, 0);
}

TEST(ParseQuotaAssignmentTest, RejectsAnythingButDigitsEqualsDigits) {
  for (const char* bad : {"", "0", "=2", "0=", "0:2", "a=2", "0=b", "-1=2", "0=-2", "+1=2", "0=2=3",
                          " 0=2", "0=2 ", "0=1.5", "99999999999=1", "0=99999999999"}) {
    auto q = ParseQuotaAssignment(bad);
    ASSERT_FALSE(q.ok()) << bad;
    EXPECT_EQ(q.error().code, ErrorCode::kInvalidRequest) << bad;
    EXPECT_NE(q.error().message.find("DEPTH=MAX_WORKERS"), std::string::npos) << bad;
    EXPECT_EQ(q.error().message.find('\n'), std::string::npos) << bad;
  }
}

TEST(FormatTranscriptTest, OneBlockPerEntry) {
  json::object t = json::parse(R"({"entries":[
    {"kind":"text","text":"I will run it."},
    {"kind":"tool_call","tool":"Bash","input":{"command":"echo hi"}},
    {"kind":"tool_result","text":"hi\n","is_error":false},
    {"kind":"tool_result","text":"line 1\nline 2","is_error":true},
    {"kind":"tool_result","text":""},
    {"kind":"text","text":"Model metadata not found","is_error":true},
    {"kind":"result","text":"Done.","is_error":false},
    {"kind":"result","is_error":true}
  ]})")
                       .as_object();
  EXPECT_EQ(Lines(FormatTranscript(t)), (std::vector<std::string>{
                                            "I will run it.",
                                            "→ Bash {\"command\":\"echo hi\"}",
                                            "← hi",
                                            "← (error) line 1",
                                            "  line 2",
                                            "← (no output)",
                                            "error: Model metadata not found",
                                            "result: Done.",
                                            "result (error)",
                                        }));
}

TEST(FormatTranscriptTest, CutInputsTextLinesAndControlCharacters) {
  json::object t = json::parse(R"({"entries":[
    {"kind":"tool_call","tool":"Write","input":"{\"content\":\"xx…[truncated]"},
    {"kind":"text","text":"a\nb"},
    {"kind":"text","text":"\u001b[2Jred\u0007\ttab"},
    {"kind":"tool_call","tool":"\u001b]0;x","input":{}},
    {"kind":"mystery","text":"shown as text"},
    "not an entry"
  ]})")
                       .as_object();
  EXPECT_EQ(Lines(FormatTranscript(t)), (std::vector<std::string>{
                                            "→ Write {\"content\":\"xx…[truncated]",
                                            "a",
                                            "b",
                                            "?[2Jred?\ttab",
                                            "→ ?]0;x {}",
                                            "shown as text",
                                        }));
  EXPECT_EQ(FormatTranscript(json::object{}), "");
  EXPECT_EQ(FormatTranscript(json::parse(R"({"entries":[]})").as_object()), "");
}

}  // namespace
}  // namespace overseer::cli
