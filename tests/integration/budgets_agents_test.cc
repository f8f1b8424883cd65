// Subtree budgets end to end with the real `claude` CLI against the fake Messages API: two
// agents of one subtree spend past its budget together; the subtree is paused as the message
// that spends it arrives (the overshoot is measured: at most one message's usage per running
// agent), refuses new jobs, and resumes when PATCH raises the budget.
#include "integration/fake_model.h"
#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;
using Kind = FakeModel::Kind;

class BudgetsAgentsTest : public SharedDaemonTest<BudgetsAgentsTest> {
 public:
  static DaemonOptions Options() { return DaemonOptions{{"--claude-bin", FakeModel::ClaudeBin()}}; }
};

// Each reply: 1,000 input tokens and 5 output (message_start 1,001, message_delta the rest).
constexpr int64_t kMessageTokens = 1005;

TEST_F(BudgetsAgentsTest, TwoAgentsSpendingPastTheirSubtreesBudgetArePausedUntilItIsRaised) {
  // Each agent calls Bash eight times, then answers; every reply costs kMessageTokens.
  FakeModel fake(Kind::kAnthropic, json::parse(R"({"routes":[
      {"match":"agent-A","turns":[
        {"type":"tool_use","name":"Bash","input":{"command":"echo a","description":"a"},
         "usage":{"input_tokens":1000,"output_tokens":5},"repeat":8},
        {"type":"text","text":"A done","usage":{"input_tokens":1000,"output_tokens":5}}]},
      {"match":"agent-B","turns":[
        {"type":"tool_use","name":"Bash","input":{"command":"echo b","description":"b"},
         "usage":{"input_tokens":1000,"output_tokens":5},"repeat":8},
        {"type":"text","text":"B done","usage":{"input_tokens":1000,"output_tokens":5}}]}],
      "turns":[]})"));
  ASSERT_TRUE(fake.running());
  const int64_t budget = 6 * kMessageTokens;  // six of the eighteen replies
  Reply root = api().Post(
      "/api/jobs",
      json::object{{"task", {{"runtime", "command"}, {"command", json::array{"sleep", "120"}}}},
                   {"budget", {{"tokens", budget}}}});
  ASSERT_EQ(root.status, 201u) << Describe(root);
  const std::string root_id = root.Str({"id"});
  std::vector<std::string> agents;
  for (const char* marker : {"agent-A", "agent-B"}) {
    json::object task{{"runtime", "claude"},
                      {"prompt", std::string(marker) + ": run echo eight times"},
                      {"allowed_tools", json::array{"Bash"}},
                      {"max_turns", 20},
                      {"env", fake.ClaudeEnv()}};
    Reply r = api().Post("/api/jobs", json::object{{"task", task}, {"parent_job_id", root_id}});
    ASSERT_EQ(r.status, 201u) << Describe(r);
    agents.push_back(WorkerIds(api(), r.Str({"id"}))[0]);
  }

  // Spent: both agents are paused where they are, the subtree is halted by its budget.
  for (const std::string& w : agents) {
    Reply paused = WaitWorker(api(), w, "PAUSED", 90s);
    ASSERT_EQ(paused.Str({"status"}), "PAUSED")
        << Describe(paused) << api().Get("/api/supervisor/workers/" + w + "/logs").body;
    EXPECT_EQ(paused.Str({"status_reason"}), "BUDGET_EXHAUSTED");
  }
  Reply spent = api().Get("/api/jobs/" + root_id);
  ASSERT_EQ(spent.status, 200u);
  EXPECT_EQ(spent.Str({"halted", "by"}), "budget") << Describe(spent);
  const int64_t used = spent.Int({"usage", "tokens"});
  const int64_t overshoot = used - budget;
  std::printf(
      "[ budget ] tokens %lld of %lld: overshoot %lld (target <= %lld: one message per "
      "running agent)\n",
      static_cast<long long>(used), static_cast<long long>(budget),
      static_cast<long long>(overshoot), static_cast<long long>(2 * kMessageTokens));
  EXPECT_GE(used, budget);
  EXPECT_LE(overshoot, 2 * kMessageTokens) << Describe(spent);
  EXPECT_EQ(spent.Int({"usage", "descendants"}), 2);
  EXPECT_LE(spent.Int({"budget_left", "tokens"}), 0);
  // What the agents' own records say adds up to the subtree's usage.
  int64_t by_agents = 0;
  for (const std::string& w : agents) {
    Reply wr = api().Get("/api/supervisor/workers/" + w);
    const json::value& a = wr.At({"agent"});
    by_agents += a.at("input_tokens").as_int64() + a.at("output_tokens").as_int64() +
                 a.at("cache_read_tokens").as_int64() + a.at("cache_write_tokens").as_int64();
  }
  EXPECT_EQ(by_agents, used);

  // Nothing new inside it; an unhalt is not the way out; raising the budget is.
  Reply refused =
      api().Post("/api/jobs",
                 json::object{{"task", {{"runtime", "command"}, {"command", json::array{"true"}}}},
                              {"parent_job_id", root_id}});
  EXPECT_EQ(refused.status, 422u) << Describe(refused);
  EXPECT_EQ(refused.Str({"error", "code"}), "BUDGET_EXCEEDED");
  Reply unhalt = api().Post("/api/jobs/" + root_id + "/unhalt", "{}");
  EXPECT_EQ(unhalt.status, 409u) << Describe(unhalt);
  Reply raised = api().Send("PATCH", "/api/jobs/" + root_id, R"({"budget":{"tokens":1000000}})");
  ASSERT_EQ(raised.status, 200u) << Describe(raised);
  EXPECT_EQ(raised.Int({"budget", "tokens"}), 1000000);
  for (const std::string& w : agents) {
    Reply done = WaitWorker(api(), w, "COMPLETED", 90s);
    EXPECT_EQ(done.Str({"status"}), "COMPLETED")
        << Describe(done) << api().Get("/api/supervisor/workers/" + w + "/logs").body;
  }
  Reply after = api().Get("/api/jobs/" + root_id);
  EXPECT_EQ(after.Int({"usage", "tokens"}), 18 * kMessageTokens) << Describe(after);
  api().Post("/api/jobs/" + root_id + "/cancel", R"({"grace_seconds":0})");
}

}  // namespace
}  // namespace overseer::it
