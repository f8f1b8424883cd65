// Each service of the layer through the harness, on its own front door: Access (who reaches
// what), Queries (reads and metrics), Allocations (API slots), Dependencies, the Scheduler's
// admission, WorkerCommands and the composition root's registry.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/service/harness.h"

namespace overseer::service::testing {
namespace {

using core::JobState;
using core::WorkerState;
using ::testing::HasSubstr;

constexpr proc::ExitStatus kOk{0, 0};
constexpr proc::ExitStatus kBad{1, 0};
const Caller kOperator{"ws", ""};

// --- Access ---------------------------------------------------------------------------------

TEST(AccessTest, AWorkerTokenReachesItsSubtreeAndNothingBesideIt) {
  ServiceHarness h;
  Result<core::Job> root = h.Submit(CommandJob(1));
  ASSERT_TRUE(root.ok());
  Result<core::Job> left = h.Submit(CommandJob(1, root->id));
  Result<core::Job> right = h.Submit(CommandJob(1, root->id));
  ASSERT_TRUE(left.ok() && right.ok());
  Result<core::Job> below = h.Submit(CommandJob(1), Caller{"ws", left->id});  // under `left`
  ASSERT_TRUE(below.ok()) << below.error().message;
  EXPECT_EQ(below->parent_job_id, left->id);
  Access& access = h.sup().access();
  const Caller left_token{"ws", left->id};
  EXPECT_TRUE(h.Run(access.CallerReaches(left_token, left->id)));
  EXPECT_TRUE(h.Run(access.CallerReaches(left_token, below->id)));
  EXPECT_FALSE(h.Run(access.CallerReaches(left_token, right->id)));
  EXPECT_FALSE(h.Run(access.CallerReaches(left_token, root->id)));
  EXPECT_TRUE(h.Run(access.CallerReaches(kOperator, right->id)));
  // The same rule on the doors that change things: cancel and create beside its subtree.
  Result<core::Job> cancel =
      h.Run(h.sup().jobs().CancelJob(left_token, right->id, std::chrono::milliseconds(10), true));
  ASSERT_FALSE(cancel.ok());
  EXPECT_EQ(cancel.error().code, ErrorCode::kInsufficientScope);
  Result<core::Job> beside = h.Submit(CommandJob(1, right->id), left_token);
  ASSERT_FALSE(beside.ok());
  EXPECT_EQ(beside.error().code, ErrorCode::kInsufficientScope);
}

TEST(AccessTest, AJobIsActiveUntilItEndsAndThenItsTokenDies) {
  ServiceHarness h;
  Result<core::Job> job = h.Submit(CommandJob(1));
  ASSERT_TRUE(job.ok());
  EXPECT_TRUE(h.sup().access().IsJobActive(job->id));
  ASSERT_TRUE(h.launcher().Exit(h.WorkersOf(job->id)[0].id, kOk));
  ASSERT_TRUE(h.WaitJob(job->id, JobState::kCompleted));
  EXPECT_FALSE(h.sup().access().IsJobActive(job->id));
  EXPECT_FALSE(h.sup().access().IsJobActive("j_missing"));
}

TEST(AccessTest, ACommandOnAWorkerThatIsNotLiveAnswersItsStatesConflictOr404) {
  ServiceHarness h;
  Result<core::Job> job = h.Submit(CommandJob(1));
  const std::string w = h.WorkersOf(job->id)[0].id;
  ASSERT_TRUE(h.launcher().Exit(w, kOk));
  ASSERT_TRUE(h.WaitJob(job->id, JobState::kCompleted));
  Result<core::Worker> paused = h.Run(h.sup().workers().Pause(kOperator, w));
  ASSERT_FALSE(paused.ok());
  EXPECT_EQ(paused.error().code, ErrorCode::kInvalidStateTransition);
  Result<core::Worker> other_ws = h.Run(h.sup().workers().Pause(Caller{"other", ""}, w));
  ASSERT_FALSE(other_ws.ok());
  EXPECT_EQ(other_ws.error().code, ErrorCode::kNotFound);
}

// --- Queries --------------------------------------------------------------------------------

TEST(QueriesTest, ALiveWorkerIsReadFromMemoryWithItsWholeHistory) {
  ServiceHarness h;
  Result<core::Job> job = h.Submit(CommandJob(1));
  const std::string w = h.WorkersOf(job->id)[0].id;
  Result<WorkerView> v = h.Run(h.sup().queries().GetWorker(kOperator, w));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->worker.status, WorkerState::kRunning);
  ASSERT_EQ(v->transitions.size(), 2u);
  EXPECT_EQ(v->transitions[1].to_state, "RUNNING");
  EXPECT_FALSE(v->final);
  ASSERT_TRUE(h.launcher().Exit(w, kOk));
  ASSERT_TRUE(h.WaitJob(job->id, JobState::kCompleted));
  v = h.Run(h.sup().queries().GetWorker(kOperator, w));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->worker.status, WorkerState::kCompleted);
  EXPECT_TRUE(v->final);
  EXPECT_EQ(h.Run(h.sup().queries().GetWorker(Caller{"other", ""}, w)).error().code,
            ErrorCode::kNotFound);
}

TEST(QueriesTest, MetricsCountPerWorkspaceAndDaemonWideFromTheRegistry) {
  ServiceHarness h;
  h.launcher().FailNextSpawns(1);
  ASSERT_TRUE(h.Submit(CommandJob(1)).ok());       // its spawn fails
  Result<core::Job> ok = h.Submit(CommandJob(2));  // two spawned
  ASSERT_TRUE(h.Submit(CommandJob(1), Caller{"other", ""}).ok());
  ASSERT_TRUE(h.launcher().Exit(h.WorkersOf(ok->id)[0].id, kOk));
  ASSERT_TRUE(h.Loop(
      [&] { return h.WorkerRow(h.WorkersOf(ok->id)[0].id).status == WorkerState::kCompleted; }));
  Result<Metrics> m = h.Run(h.sup().queries().GetMetrics(kOperator, true));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->counters.jobs_submitted, 2);
  EXPECT_EQ(m->counters.workers_spawned, 2);
  EXPECT_EQ(m->counters.spawn_failures, 1);
  EXPECT_EQ(m->counters.workers_exited, 1);
  EXPECT_EQ(m->daemon_counters.jobs_submitted, 3);
  EXPECT_EQ(m->daemon_counters.workers_spawned, 3);
  EXPECT_GE(m->commits, 3);
  EXPECT_GE(m->commits, m->commit_transactions);
  // The same figures are the registry's (one home, one rendering).
  EXPECT_EQ(h.metrics().Value("overseer_jobs_submitted_total"), 3);
  EXPECT_EQ(h.metrics().Value("overseer_workspace_jobs_submitted_total", {{"workspace", "ws"}}), 2);
  EXPECT_EQ(h.metrics().Value("overseer_commits_total"), m->commits);
  EXPECT_THAT(h.metrics().RenderText(),
              HasSubstr("overseer_workspace_workers_spawned_total{workspace=\"other\"} 1"));
  // Without the operator's scope only the caller's own workspace is answered.
  Result<Metrics> mine = h.Run(h.sup().queries().GetMetrics(kOperator, false));
  EXPECT_FALSE(mine->daemon_wide);
  EXPECT_EQ(mine->daemon_counters.jobs_submitted, 0);
}

// --- Allocations ----------------------------------------------------------------------------

TEST(AllocationsTest, SlotsAreAllOrNothingAndGoBackWhenTheJobEnds) {
  ServiceHarness h;
  ASSERT_TRUE(h.Run(h.sup().scheduler().SetQuotas(kOperator, {{1, 3}})).ok());
  Result<core::Job> job = h.Submit(CommandJob(1));
  Result<core::Allocation> a = h.Run(h.sup().allocations().Allocate(kOperator, job->id, 1, 2));
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(h.sup().scheduler().GetQuotas(kOperator).quotas[1].used, 2);
  Result<core::Allocation> more = h.Run(h.sup().allocations().Allocate(kOperator, job->id, 1, 2));
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.error().code, ErrorCode::kQuotaExceeded);
  EXPECT_EQ(h.sup().scheduler().GetQuotas(kOperator).quotas[1].used, 2);  // nothing taken
  ASSERT_TRUE(h.launcher().Exit(h.WorkersOf(job->id)[0].id, kOk));
  ASSERT_TRUE(h.WaitJob(job->id, JobState::kCompleted));
  ASSERT_TRUE(h.Loop([&] { return h.sup().scheduler().GetQuotas(kOperator).quotas[1].used == 0; }));
  Result<std::vector<core::Allocation>> again =
      h.Run(h.sup().allocations().Release(kOperator, a->id, ""));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
}

TEST(AllocationsTest, AWorkersOwnSlotCannotBeReleasedThroughTheApi) {
  ServiceHarness h;
  Result<core::Job> job = h.Submit(CommandJob(1));
  ASSERT_TRUE(job.ok());
  const std::vector<core::Allocation> held = [&] {
    Result<std::vector<core::Allocation>> r = h.store().ListJobAllocations("ws", job->id);
    return r.ok() ? *r : std::vector<core::Allocation>{};
  }();
  ASSERT_EQ(held.size(), 1u);
  Result<std::vector<core::Allocation>> r =
      h.Run(h.sup().allocations().Release(kOperator, held[0].id, ""));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidStateTransition);
  Result<std::vector<core::Allocation>> by_job =
      h.Run(h.sup().allocations().Release(kOperator, "", job->id));
  ASSERT_TRUE(by_job.ok());
  EXPECT_TRUE(by_job->empty());  // a job's API allocations only
}

// --- Dependencies and the Scheduler's admission ---------------------------------------------

TEST(DependenciesTest, AJobWaitsForItsDependencyAndStartsWhenItCompletes) {
  ServiceHarness h;
  Result<core::Job> dep = h.Submit(CommandJob(1));
  JobSpec spec = CommandJob(1);
  spec.depends_on = {dep->id};
  Result<core::Job> job = h.Submit(spec);
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->status, JobState::kPending);
  EXPECT_EQ(job->status_reason, "WAITING_FOR_DEPENDENCIES");
  EXPECT_EQ(h.launcher().spawns(), 1);
  ASSERT_TRUE(h.launcher().Exit(h.WorkersOf(dep->id)[0].id, kOk));
  ASSERT_TRUE(h.WaitJob(job->id, JobState::kRunning));
  EXPECT_EQ(h.launcher().spawns(), 2);
}

TEST(DependenciesTest, AJobOnAnAlreadyFailedDependencyIsCanceledAtOnce) {
  ServiceHarness h;
  Result<core::Job> dep = h.Submit(CommandJob(1));
  ASSERT_TRUE(h.launcher().Exit(h.WorkersOf(dep->id)[0].id, kBad));
  ASSERT_TRUE(h.WaitJob(dep->id, JobState::kFailed));
  JobSpec spec = CommandJob(1);
  spec.depends_on = {dep->id};
  Result<core::Job> job = h.Submit(spec);
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(h.WaitJob(job->id, JobState::kCanceled));
  EXPECT_EQ(h.JobRow(job->id).status_reason, "DEPENDENCY_FAILED");
  JobSpec missing = CommandJob(1);
  missing.depends_on = {"j_nope"};
  Result<core::Job> refused = h.Submit(missing);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidRequest);
}

TEST(SchedulerTest, AJobBiggerThanItsQuotaIsRefusedNotQueuedForever) {
  ServiceHarness h;
  ASSERT_TRUE(h.Run(h.sup().scheduler().SetQuotas(kOperator, {{0, 2}})).ok());
  Result<core::Job> job = h.Submit(CommandJob(3));
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.error().code, ErrorCode::kQuotaExceeded);
  EXPECT_EQ(h.launcher().spawns(), 0);
  Result<QuotasView> bad = h.Run(h.sup().scheduler().SetQuotas(kOperator, {{9, 1}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidRequest);
}

TEST(SchedulerTest, ARaisedQuotaStartsTheJobsThatWaitForIt) {
  ServiceHarness h;
  ASSERT_TRUE(h.Run(h.sup().scheduler().SetQuotas(kOperator, {{0, 1}})).ok());
  Result<core::Job> a = h.Submit(CommandJob(1));
  Result<core::Job> b = h.Submit(CommandJob(1));
  EXPECT_EQ(b->status_reason, "WAITING_FOR_QUOTA");
  ASSERT_TRUE(h.Run(h.sup().scheduler().SetQuotas(kOperator, {{0, 2}})).ok());
  ASSERT_TRUE(h.WaitJob(b->id, JobState::kRunning));
  EXPECT_EQ(h.sup().scheduler().GetQuotas(kOperator).quotas[0].used, 2);
  (void)a;
}

TEST(SchedulerTest, AQuotaChangeIsCommittedWithItsEvent) {
  ServiceHarness h;
  ASSERT_TRUE(h.Run(h.sup().scheduler().SetQuotas(kOperator, {{1, 4}, {2, 0}})).ok());
  Result<std::vector<core::Event>> events = h.store().ListEvents("ws", 0, 100);
  ASSERT_TRUE(events.ok());
  std::vector<std::string> quota_events;
  for (const core::Event& e : *events) {
    if (e.type == core::EventType::kQuotaChanged) quota_events.push_back(e.data_json);
  }
  EXPECT_THAT(quota_events, ::testing::ElementsAre(R"({"depth":1,"max_workers":4})",
                                                   R"({"depth":2,"max_workers":0})"));
  Result<std::vector<core::Quota>> rows = h.store().ListQuotas();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 2u);
  EXPECT_EQ(h.sup().scheduler().GetQuotas(kOperator).quotas[1].max_workers, 4);
}

// --- WorkerCommands and the WorkerRunner ----------------------------------------------------

TEST(WorkerCommandsTest, TerminateEndsTheWorkerAndItsJobAndGivesTheSlotBack) {
  ServiceHarness h;
  Result<core::Job> job = h.Submit(CommandJob(1));
  const std::string w = h.WorkersOf(job->id)[0].id;
  Result<core::Worker> t =
      h.Run(h.sup().workers().Terminate(kOperator, w, std::chrono::milliseconds(10), true));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->status, WorkerState::kTerminated);
  EXPECT_EQ(t->status_reason, "TERMINATE_REQUESTED");
  ASSERT_TRUE(h.WaitJob(job->id, JobState::kFailed));
  EXPECT_EQ(h.launcher().live_units(), 0);
  EXPECT_EQ(h.sup().scheduler().GetQuotas(kOperator).quotas[0].used, 0);
  Result<core::Worker> again =
      h.Run(h.sup().workers().Terminate(kOperator, w, std::chrono::milliseconds(10), true));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kInvalidStateTransition);
}

TEST(WorkerCommandsTest, AResumedWorkerRunsAgainOnItsOwnSlot) {
  ServiceHarness h;
  Result<core::Job> job = h.Submit(CommandJob(1));
  const std::string w = h.WorkersOf(job->id)[0].id;
  ASSERT_TRUE(h.Run(h.sup().workers().Pause(kOperator, w)).ok());
  EXPECT_EQ(h.sup().scheduler().GetQuotas(kOperator).quotas[0].used, 0);
  Result<core::Worker> r = h.Run(h.sup().workers().Resume(kOperator, w));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, WorkerState::kRunning);
  EXPECT_EQ(h.sup().scheduler().GetQuotas(kOperator).quotas[0].used, 1);
  ASSERT_TRUE(h.launcher().Exit(w, kOk));
  ASSERT_TRUE(h.WaitJob(job->id, JobState::kCompleted));
  EXPECT_EQ(h.sup().scheduler().GetQuotas(kOperator).quotas[0].used, 0);
}

TEST(SupervisorTest, ShutdownEndsEveryLiveProcessAndKeepsQueuedJobsPending) {
  ServiceHarness h;
  ASSERT_TRUE(h.Run(h.sup().scheduler().SetQuotas(kOperator, {{0, 1}})).ok());
  Result<core::Job> a = h.Submit(CommandJob(1));
  Result<core::Job> b = h.Submit(CommandJob(1));
  ASSERT_TRUE(b.ok());
  h.Run(h.sup().Shutdown(std::chrono::milliseconds(10)));
  EXPECT_EQ(h.launcher().live_units(), 0);
  EXPECT_EQ(h.WorkersOf(a->id)[0].status_reason, "SUPERVISOR_SHUTDOWN");
  EXPECT_EQ(h.JobRow(b->id).status, JobState::kPending);
  Result<core::Job> late = h.Submit(CommandJob(1));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace overseer::service::testing
