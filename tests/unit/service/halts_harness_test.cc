// Halts (the kill switch) through the harness: what a freeze does to each kind of worker and
// job of the subtree, what it refuses until the unhalt, what the unhalt resumes, and the
// workspace halt kept over a restart.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "core/halt.h"
#include "unit/service/forwarding_store.h"
#include "unit/service/harness.h"

namespace overseer::service::testing {
namespace {

using core::HaltMode;
using core::JobState;
using core::WorkerState;

constexpr proc::ExitStatus kBad{1, 0};
const Caller kOperator{"ws", ""};
constexpr std::chrono::milliseconds kGrace{10};

TEST(HaltsTest, FreezePausesRunningEndsRetryingAndRefusesNewWorkUntilTheUnhalt) {
  ServiceHarness h;
  Result<core::Job> root = h.Submit(CommandJob(1));
  ASSERT_TRUE(root.ok());
  JobSpec retrying_spec = CommandJob(1, root->id);
  retrying_spec.retry = core::RetryPolicy{3, 60'000, 60'000, 1.0, 0.0};
  Result<core::Job> retrying = h.Submit(retrying_spec);
  Result<core::Job> paused = h.Submit(CommandJob(1, root->id));
  ASSERT_TRUE(retrying.ok() && paused.ok());
  const std::string root_w = h.WorkersOf(root->id)[0].id;
  const std::string retrying_w = h.WorkersOf(retrying->id)[0].id;
  const std::string paused_w = h.WorkersOf(paused->id)[0].id;
  ASSERT_TRUE(h.launcher().Exit(retrying_w, kBad));
  ASSERT_TRUE(h.WaitWorker(retrying_w, WorkerState::kRetrying));
  ASSERT_TRUE(h.Run(h.sup().workers().Pause(kOperator, paused_w)).ok());

  Result<core::Job> halted = h.Run(
      h.sup().halts().HaltJob(kOperator, "alice", root->id, HaltMode::kFreeze, "why", kGrace));
  ASSERT_TRUE(halted.ok()) << halted.error().message;
  ASSERT_TRUE(halted->halted.has_value());
  EXPECT_EQ(halted->halted->by, "alice");
  EXPECT_EQ(h.WorkerRow(root_w).status, WorkerState::kPaused);
  EXPECT_EQ(h.WorkerRow(root_w).status_reason, core::kHaltReason);
  ASSERT_TRUE(h.WaitWorker(retrying_w, WorkerState::kTerminated));
  EXPECT_EQ(h.WorkerRow(retrying_w).status_reason, core::kHaltReason);
  EXPECT_EQ(h.WorkerRow(paused_w).status_reason, "PAUSE_REQUESTED");
  ASSERT_TRUE(h.JobRow(root->id).halted.has_value());

  // Refused while halted: a job under any job of the subtree, a resume, the subtree's tokens.
  Result<core::Job> child = h.Submit(CommandJob(1, paused->id));
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.error().code, ErrorCode::kHalted);
  Result<core::Worker> resume = h.Run(h.sup().workers().Resume(kOperator, paused_w));
  ASSERT_FALSE(resume.ok());
  EXPECT_EQ(resume.error().code, ErrorCode::kHalted);
  EXPECT_EQ(h.sup().halts().CheckCallerMayWrite(Caller{"ws", paused->id}).error().code,
            ErrorCode::kHalted);
  EXPECT_TRUE(h.sup().halts().CheckCallerMayWrite(kOperator).ok());
  Result<core::Job> again =
      h.Run(h.sup().halts().HaltJob(kOperator, "bob", paused->id, HaltMode::kFreeze, "x", kGrace));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kHalted);

  Result<core::Job> thawed = h.Run(h.sup().halts().UnhaltJob(kOperator, "bob", root->id));
  ASSERT_TRUE(thawed.ok()) << thawed.error().message;
  EXPECT_FALSE(thawed->halted.has_value());
  EXPECT_EQ(h.WorkerRow(root_w).status, WorkerState::kRunning);
  EXPECT_EQ(h.WorkerRow(root_w).status_reason, "UNHALTED");
  EXPECT_EQ(h.WorkerRow(paused_w).status, WorkerState::kPaused);  // paused by hand: stays
  EXPECT_FALSE(h.JobRow(root->id).halted.has_value());
  EXPECT_TRUE(h.Submit(CommandJob(1, paused->id)).ok());
}

TEST(HaltsTest, TerminateCancelsTheSubtreeAndItsUnhaltOnlyLiftsTheRefusal) {
  ServiceHarness h;
  Result<core::Job> root = h.Submit(CommandJob(2));
  ASSERT_TRUE(root.ok());
  Result<core::Job> child = h.Submit(CommandJob(1, root->id));
  ASSERT_TRUE(child.ok());
  Result<core::Job> halted =
      h.Run(h.sup().halts().HaltJob(kOperator, "a", root->id, HaltMode::kTerminate, "end", kGrace));
  ASSERT_TRUE(halted.ok()) << halted.error().message;
  EXPECT_EQ(halted->status, JobState::kCanceled);
  for (const std::string& j : {root->id, child->id}) {
    EXPECT_EQ(h.JobRow(j).status, JobState::kCanceled) << j;
    EXPECT_EQ(h.JobRow(j).status_reason, core::kHaltReason) << j;
    for (const core::Worker& w : h.WorkersOf(j)) {
      EXPECT_EQ(w.status, WorkerState::kTerminated) << w.id;
      EXPECT_EQ(w.status_reason, core::kHaltReason) << w.id;
    }
  }
  Result<core::Job> under = h.Submit(CommandJob(1, child->id));
  ASSERT_FALSE(under.ok());
  EXPECT_EQ(under.error().code, ErrorCode::kHalted);
  ASSERT_TRUE(h.Run(h.sup().halts().UnhaltJob(kOperator, "a", root->id)).ok());
  under = h.Submit(CommandJob(1, child->id));
  ASSERT_FALSE(under.ok());
  EXPECT_EQ(under.error().code, ErrorCode::kInvalidStateTransition);
}

TEST(HaltsTest, WorkspaceHaltRefusesRootJobsAndSurvivesARestart) {
  ServiceHarness h;
  Result<core::Job> root = h.Submit(CommandJob(1));
  ASSERT_TRUE(root.ok());
  Result<WorkspaceHaltView> v =
      h.Run(h.sup().halts().HaltWorkspace(kOperator, "ops", HaltMode::kFreeze, "incident", kGrace));
  ASSERT_TRUE(v.ok()) << v.error().message;
  ASSERT_EQ(v->job_ids.size(), 1u);
  EXPECT_EQ(h.WorkersOf(root->id)[0].status, WorkerState::kPaused);
  Result<core::Job> refused = h.Submit(CommandJob(1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kHalted);
  // Another workspace is open.
  EXPECT_TRUE(h.Submit(CommandJob(1), Caller{"ws2", ""}).ok());

  h.Settle();  // nothing in flight: a restart drops the supervisor
  h.Restart();
  ASSERT_TRUE(h.sup().halts().GetWorkspaceHalt(kOperator).halt.has_value());
  refused = h.Submit(CommandJob(1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kHalted);
  Result<WorkspaceHaltView> lifted = h.Run(h.sup().halts().UnhaltWorkspace(kOperator, "ops"));
  ASSERT_TRUE(lifted.ok()) << lifted.error().message;
  EXPECT_FALSE(lifted->halt.has_value());
  EXPECT_TRUE(h.Submit(CommandJob(1)).ok());
  Result<WorkspaceHaltView> twice = h.Run(h.sup().halts().UnhaltWorkspace(kOperator, "ops"));
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, ErrorCode::kInvalidStateTransition);
}

// Holds the reads of one job's row (GetJob) after they are done, while `hold` names it.
class HeldReadStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::mutex mu;
  std::string hold;  // the job id whose reads wait
  CallGate gate;

  Result<core::Job> GetJob(const std::string& ws, const std::string& id) override {
    Result<core::Job> out = ForwardingStore::GetJob(ws, id);
    bool wait = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      wait = !hold.empty() && id == hold;
    }
    if (wait) gate.Wait();
    return out;
  }
};

// A root job whose creation passed the workspace check and then waited on the database (here
// for its second dependency's row) while a workspace halt was recorded and walked the root
// jobs without it: refused (409 HALTED) in the step that would make it live, and nothing of it
// written, instead of started behind the halt.
TEST(HaltsTest, ARootJobStillBeingCreatedWhenTheWorkspaceIsHaltedIsRefusedNotStarted) {
  HeldReadStore* db = nullptr;
  ServiceHarness h(
      HarnessOptions(),
      [&db](std::unique_ptr<store::Store> inner) {
        auto s = std::make_unique<HeldReadStore>(std::move(inner));
        db = s.get();
        return s;
      },
      2);  // the halt's commit goes on while the creation's read is held
  std::vector<std::string> deps;
  for (int i = 0; i < 2; ++i) {
    Result<core::Job> dep = h.Submit(CommandJob(1));
    ASSERT_TRUE(dep.ok());
    ASSERT_TRUE(h.launcher().Exit(h.WorkersOf(dep->id)[0].id, proc::ExitStatus{0, 0}));
    ASSERT_TRUE(h.WaitJob(dep->id, JobState::kCompleted));
    deps.push_back(dep->id);
  }
  h.Settle();
  h.Restart();  // the ended dependencies are read from the database, not from memory

  {
    std::lock_guard<std::mutex> lock(db->mu);
    db->hold = deps[1];
  }
  JobSpec spec = CommandJob(1);
  spec.depends_on = deps;
  auto created = std::make_shared<std::optional<Result<core::Job>>>();
  h.Start(h.sup().jobs().CreateJob(kOperator, spec), created);
  ASSERT_TRUE(h.Loop([&] { return db->gate.holding.load(); }));
  Result<WorkspaceHaltView> halted =
      h.Run(h.sup().halts().HaltWorkspace(kOperator, "ops", HaltMode::kFreeze, "incident", kGrace));
  ASSERT_TRUE(halted.ok()) << halted.error().message;
  EXPECT_TRUE(halted->job_ids.empty());  // no active root job when it walked them
  db->gate.release = true;
  ASSERT_TRUE(h.Loop([&] { return created->has_value(); }));
  ASSERT_FALSE((*created)->ok()) << "created " << (**created)->id << " behind the halt";
  EXPECT_EQ((*created)->error().code, ErrorCode::kHalted);
  Result<store::Page<core::Job>> jobs = h.store().ListJobs("ws", store::JobQuery{});
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->items.size(), deps.size());  // nothing else was written
  EXPECT_EQ(h.launcher().spawns(), 0);         // nothing started since the restart
}

}  // namespace
}  // namespace overseer::service::testing
