// Budgets through the harness: reservations and fan-out caps refused at creation, agent usage
// charged up the tree per stream message, a spent subtree paused (or ended) with reason
// BUDGET_EXHAUSTED until PATCH raises its budget, and usage kept over a restart.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "core/halt.h"
#include "unit/service/harness.h"

namespace overseer::service::testing {
namespace {

using core::JobState;
using core::WorkerState;

const Caller kOperator{"ws", ""};

core::Budget Usd(double usd) {
  core::Budget b;
  b.usd = usd;
  return b;
}

core::Budget Tokens(int64_t tokens, core::BudgetExhaustion mode = core::BudgetExhaustion::kPause) {
  core::Budget b;
  b.tokens = tokens;
  b.on_exhausted = mode;
  return b;
}

JobSpec WithBudget(JobSpec s, std::optional<core::Budget> b) {
  s.budget = std::move(b);
  return s;
}

// A claude job (the fake launcher runs nothing: the test prints its stream).
JobSpec ClaudeJob(ServiceHarness& h, std::string parent = "",
                  std::optional<core::Budget> budget = std::nullopt) {
  JobSpec s = CommandJob(1, std::move(parent));
  Result<Task> task =
      h.sup().runtimes().Parse(boost::json::parse(R"({"runtime":"claude","prompt":"work"})"));
  EXPECT_TRUE(task.ok());
  s.task = std::move(*task);
  s.budget = std::move(budget);
  return s;
}

// One assistant message of `tokens` input tokens (a new message id each time).
std::string Message(int n, int64_t tokens) {
  return R"({"type":"assistant","message":{"id":"msg_)" + std::to_string(n) +
         R"(","model":"claude-sonnet-4-5","usage":{"input_tokens":)" + std::to_string(tokens) +
         R"(,"output_tokens":0},"content":[{"type":"text","text":"working"}]}})";
}

TEST(BudgetsTest, AChildBudgetIsReservedFromWhatItsParentHasLeft) {
  ServiceHarness h;
  Result<core::Job> root = h.Submit(WithBudget(CommandJob(1), Usd(5)));
  ASSERT_TRUE(root.ok()) << root.error().message;
  ASSERT_TRUE(root->budget.has_value());
  EXPECT_EQ(*root->budget->usd, 5);
  Result<core::Job> a = h.Submit(WithBudget(CommandJob(1, root->id), Usd(3)));
  ASSERT_TRUE(a.ok()) << a.error().message;
  // 5 - 3 reserved = 2 left: a child asking 3 does not fit.
  Result<core::Job> b = h.Submit(WithBudget(CommandJob(1, root->id), Usd(3)));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, ErrorCode::kBudgetExceeded);
  bool named_usd = false;
  for (const auto& [k, v] : b.error().details) {
    if (k == "limit") named_usd = std::get<std::string>(v) == "usd";
    if (k == "left") {
      EXPECT_DOUBLE_EQ(std::get<double>(v), 2.0);
    }
    if (k == "requested") {
      EXPECT_DOUBLE_EQ(std::get<double>(v), 3.0);
    }
  }
  EXPECT_TRUE(named_usd);
  // What fits, fits; a child without a budget shares what is left.
  EXPECT_TRUE(h.Submit(WithBudget(CommandJob(1, root->id), Usd(2))).ok());
  EXPECT_TRUE(h.Submit(CommandJob(1, root->id)).ok());
  // A grandchild reserves from the nearest budget above it (a's 3).
  EXPECT_FALSE(h.Submit(WithBudget(CommandJob(1, a->id), Usd(3.5))).ok());
  EXPECT_TRUE(h.Submit(WithBudget(CommandJob(1, a->id), Usd(3))).ok());
  Result<JobView> view = h.Run(h.sup().queries().GetJob(kOperator, root->id));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->job.usage.children, 3);     // a, the $2 one, the shared one
  EXPECT_EQ(view->job.usage.descendants, 4);  // and a's child
  ASSERT_TRUE(view->budget_left.has_value());
  EXPECT_DOUBLE_EQ(*view->budget_left->usd, 0.0);
}

TEST(BudgetsTest, MaxChildrenAndMaxDescendantsCapFanOut) {
  ServiceHarness h;
  core::Budget caps;
  caps.max_children = 2;
  caps.max_descendants = 3;
  Result<core::Job> root = h.Submit(WithBudget(CommandJob(1), caps));
  ASSERT_TRUE(root.ok());
  Result<core::Job> a = h.Submit(CommandJob(1, root->id));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(h.Submit(CommandJob(1, root->id)).ok());
  Result<core::Job> third = h.Submit(CommandJob(1, root->id));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code, ErrorCode::kBudgetExceeded);
  EXPECT_NE(third.error().message.find("max_children"), std::string::npos);
  ASSERT_TRUE(h.Submit(CommandJob(1, a->id)).ok());  // the third descendant
  Result<core::Job> fourth = h.Submit(CommandJob(1, a->id));
  ASSERT_FALSE(fourth.ok());
  EXPECT_NE(fourth.error().message.find("max_descendants"), std::string::npos);
  // A refused job is not counted.
  EXPECT_EQ(h.Run(h.sup().queries().GetJob(kOperator, root->id))->job.usage.descendants, 3);
}

TEST(BudgetsTest, UsageIsChargedUpTheTreeAndASpentSubtreePausesUntilItsBudgetIsRaised) {
  ServiceHarness h;
  Result<core::Job> root = h.Submit(WithBudget(CommandJob(1), Tokens(10'000)));
  ASSERT_TRUE(root.ok());
  Result<core::Job> a = h.Submit(ClaudeJob(h, root->id));
  Result<core::Job> b = h.Submit(ClaudeJob(h, root->id));
  ASSERT_TRUE(a.ok() && b.ok()) << (a.ok() ? b.error().message : a.error().message);
  const std::string wa = h.WorkersOf(a->id)[0].id;
  const std::string wb = h.WorkersOf(b->id)[0].id;
  const std::string wroot = h.WorkersOf(root->id)[0].id;
  ASSERT_TRUE(h.launcher().Print(wa, Message(1, 4000)));
  ASSERT_TRUE(h.launcher().Print(wb, Message(1, 4000)));
  h.Settle();
  Result<JobView> view = h.Run(h.sup().queries().GetJob(kOperator, root->id));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->job.usage.tokens, 8000);
  EXPECT_EQ(*view->budget_left->tokens, 2000);
  Result<JobView> a_view = h.Run(h.sup().queries().GetJob(kOperator, a->id));
  ASSERT_TRUE(a_view.ok());
  EXPECT_EQ(a_view->job.usage.tokens, 4000);
  // Its worker's agent record is the live one (not the row as of its spawn).
  ASSERT_EQ(a_view->workers.size(), 1u);
  EXPECT_NE(a_view->workers[0].agent_json.find("\"input_tokens\":4000"), std::string::npos)
      << a_view->workers[0].agent_json;
  EXPECT_FALSE(h.JobRow(root->id).halted.has_value());

  // The message that spends it: the whole subtree pauses (BUDGET_EXHAUSTED).
  ASSERT_TRUE(h.launcher().Print(wa, Message(2, 2500)));
  ASSERT_TRUE(h.WaitWorker(wa, WorkerState::kPaused));
  ASSERT_TRUE(h.WaitWorker(wb, WorkerState::kPaused));
  ASSERT_TRUE(h.WaitWorker(wroot, WorkerState::kPaused));
  EXPECT_EQ(h.WorkerRow(wb).status_reason, core::kBudgetExhaustedReason);
  const core::Job halted = h.JobRow(root->id);
  ASSERT_TRUE(halted.halted.has_value());
  EXPECT_TRUE(halted.halted->budget);
  EXPECT_EQ(halted.halted->by, "budget");
  Result<std::vector<core::Event>> events = h.store().ListEvents("ws", 0, 1000);
  ASSERT_TRUE(events.ok());
  int exhausted = 0;
  for (const core::Event& e : *events) {
    if (e.type == core::EventType::kBudgetExhausted && e.job_id == root->id) ++exhausted;
  }
  EXPECT_EQ(exhausted, 1);

  // No new job inside it; an unhalt does not lift it, raising the budget does.
  Result<core::Job> refused = h.Submit(CommandJob(1, a->id));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kBudgetExceeded);
  Result<core::Job> unhalt = h.Run(h.sup().halts().UnhaltJob(kOperator, "op", root->id));
  ASSERT_FALSE(unhalt.ok());
  EXPECT_EQ(unhalt.error().code, ErrorCode::kInvalidStateTransition);
  // An agent of the subtree cannot raise it (its token may only read while halted).
  EXPECT_FALSE(
      h.Run(h.sup().budgets().SetBudget(Caller{"ws", a->id}, root->id, Tokens(1'000'000))).ok());
  Result<core::Job> raised =
      h.Run(h.sup().budgets().SetBudget(kOperator, root->id, Tokens(20'000)));
  ASSERT_TRUE(raised.ok()) << raised.error().message;
  ASSERT_TRUE(h.WaitWorker(wa, WorkerState::kRunning));
  ASSERT_TRUE(h.WaitWorker(wb, WorkerState::kRunning));
  EXPECT_FALSE(h.JobRow(root->id).halted.has_value());
  EXPECT_EQ(*h.JobRow(root->id).budget->tokens, 20'000);
  EXPECT_TRUE(h.Submit(CommandJob(1, a->id)).ok());
}

TEST(BudgetsTest, TerminateEndsTheSpentSubtree) {
  ServiceHarness h;
  Result<core::Job> root =
      h.Submit(ClaudeJob(h, "", Tokens(1000, core::BudgetExhaustion::kTerminate)));
  ASSERT_TRUE(root.ok());
  const std::string w = h.WorkersOf(root->id)[0].id;
  ASSERT_TRUE(h.launcher().Print(w, Message(1, 1200)));
  ASSERT_TRUE(h.WaitJob(root->id, JobState::kCanceled));
  EXPECT_EQ(h.JobRow(root->id).status_reason, core::kBudgetExhaustedReason);
  EXPECT_EQ(h.WorkerRow(w).status, WorkerState::kTerminated);
  EXPECT_EQ(h.WorkerRow(w).status_reason, core::kBudgetExhaustedReason);
}

TEST(BudgetsTest, AWorkerTokenSetsBudgetsOnlyBelowItsOwnJobAndWithinWhatIsLeft) {
  ServiceHarness h;
  Result<core::Job> root = h.Submit(WithBudget(CommandJob(1), Usd(5)));
  ASSERT_TRUE(root.ok());
  Result<core::Job> child = h.Submit(WithBudget(CommandJob(1, root->id), Usd(1)));
  ASSERT_TRUE(child.ok());
  const Caller agent{"ws", root->id};
  Result<core::Job> own = h.Run(h.sup().budgets().SetBudget(agent, root->id, Usd(50)));
  ASSERT_FALSE(own.ok());
  EXPECT_EQ(own.error().code, ErrorCode::kInsufficientScope);
  Result<core::Job> too_much = h.Run(h.sup().budgets().SetBudget(agent, child->id, Usd(6.5)));
  ASSERT_FALSE(too_much.ok());
  EXPECT_EQ(too_much.error().code, ErrorCode::kBudgetExceeded);
  Result<core::Job> fits = h.Run(h.sup().budgets().SetBudget(agent, child->id, Usd(5)));
  ASSERT_TRUE(fits.ok()) << fits.error().message;
  EXPECT_EQ(*fits->budget->usd, 5);
}

TEST(BudgetsTest, UsageSurvivesARestartAndTheBackstopGoesToClaude) {
  ServiceHarness h;
  Result<core::Job> root = h.Submit(ClaudeJob(h, "", Usd(2)));
  ASSERT_TRUE(root.ok());
  const std::string w = h.WorkersOf(root->id)[0].id;
  const proc::SpawnSpec* spec = h.launcher().Spec(w);
  ASSERT_NE(spec, nullptr);
  bool backstop = false;
  for (size_t i = 0; i + 1 < spec->argv.size(); ++i) {
    if (spec->argv[i] == "--max-budget-usd") backstop = spec->argv[i + 1] == "2.000000";
  }
  EXPECT_TRUE(backstop);
  ASSERT_TRUE(h.launcher().Print(w, Message(1, 700)));
  // Written within a second of the report (a restart here is a kill -9: nothing else writes).
  h.Settle(std::chrono::milliseconds(1500));
  h.Restart();
  EXPECT_EQ(h.JobRow(root->id).usage.tokens, 700);
  EXPECT_GT(h.JobRow(root->id).usage.usd, 0);
}

}  // namespace
}  // namespace overseer::service::testing
