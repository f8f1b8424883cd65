// The supervisor's decisions through the service harness: no processes, SQLite in memory, the
// orders of events a real process rarely gives.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>

#include "unit/service/harness.h"

namespace overseer::service::testing {
namespace {

using core::JobState;
using core::WorkerState;
using ::testing::ElementsAre;

constexpr proc::ExitStatus kOk{0, 0};
constexpr proc::ExitStatus kBad{1, 0};

TEST(SupervisorHarnessTest, AJobCompletesWhenEveryWorkerExitsZero) {
  ServiceHarness h;
  Result<core::Job> job = h.Submit(CommandJob(2));
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->status, JobState::kRunning);
  std::vector<core::Worker> ws = h.WorkersOf(job->id);
  ASSERT_EQ(ws.size(), 2u);
  for (const core::Worker& w : ws) ASSERT_TRUE(h.launcher().Exit(w.id, kOk));
  ASSERT_TRUE(h.WaitJob(job->id, JobState::kCompleted));
  core::Job done = h.JobRow(job->id);
  EXPECT_EQ(done.status_reason, "ALL_WORKERS_COMPLETED");
  EXPECT_EQ(done.result_json, R"({"exit_codes":[0,0]})");
  EXPECT_THAT(h.History(ws[0].id),
              ElementsAre(">IDLE:CREATED", "IDLE>RUNNING:SPAWNED", "RUNNING>COMPLETED:EXITED"));
}

TEST(SupervisorHarnessTest, AFailedAttemptIsRetriedAfterItsBackoffAndTheJobCompletes) {
  ServiceHarness h;
  JobSpec spec = CommandJob(1);
  spec.retry.max_attempts = 2;
  spec.retry.initial_backoff_ms = 5;
  spec.retry.jitter = 0;
  Result<core::Job> job = h.Submit(spec);
  ASSERT_TRUE(job.ok());
  const std::string w = h.WorkersOf(job->id)[0].id;
  ASSERT_TRUE(h.launcher().Exit(w, kBad));
  ASSERT_TRUE(h.Loop([&] { return h.WorkerRow(w).attempt == 2; }));
  EXPECT_EQ(h.JobRow(job->id).status, JobState::kRunning);  // a retryable failure is not seen
  EXPECT_EQ(h.launcher().spawns(), 2);
  ASSERT_TRUE(h.launcher().Exit(w, kOk));
  ASSERT_TRUE(h.WaitJob(job->id, JobState::kCompleted));
  EXPECT_THAT(h.History(w),
              ElementsAre(">IDLE:CREATED", "IDLE>RUNNING:SPAWNED", "RUNNING>FAILED:EXIT_NONZERO",
                          "FAILED>RETRYING:RETRY_SCHEDULED", "RETRYING>RUNNING:RESPAWNED",
                          "RUNNING>COMPLETED:EXITED"));
}

TEST(SupervisorHarnessTest, AWorkerThatCannotBeSpawnedFailsItsJob) {
  ServiceHarness h;
  h.launcher().FailNextSpawns(1);
  Result<core::Job> job = h.Submit(CommandJob(1));
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(h.WaitJob(job->id, JobState::kFailed));
  const core::Worker w = h.WorkersOf(job->id)[0];
  EXPECT_EQ(w.status, WorkerState::kFailed);
  EXPECT_EQ(w.status_reason, "SPAWN_FAILED");
}

TEST(SupervisorHarnessTest, AFailedParentCancelsItsSubtreeAndEndsTheirWorkers) {
  ServiceHarness h;
  Result<core::Job> root = h.Submit(CommandJob(1));
  ASSERT_TRUE(root.ok());
  Result<core::Job> child = h.Submit(CommandJob(1, root->id));
  ASSERT_TRUE(child.ok());
  Result<core::Job> grandchild = h.Submit(CommandJob(1, child->id));
  ASSERT_TRUE(grandchild.ok());
  EXPECT_EQ(grandchild->depth, 2);
  ASSERT_TRUE(h.launcher().Exit(h.WorkersOf(root->id)[0].id, kBad));
  ASSERT_TRUE(h.WaitJob(root->id, JobState::kFailed));
  ASSERT_TRUE(h.WaitJob(grandchild->id, JobState::kCanceled));
  EXPECT_EQ(h.JobRow(child->id).status_reason, "PARENT_FAILED");
  EXPECT_EQ(h.JobRow(grandchild->id).status_reason, "PARENT_CANCELED");
  const std::string gw = h.WorkersOf(grandchild->id)[0].id;
  ASSERT_TRUE(h.WaitWorker(gw, WorkerState::kTerminated));
  EXPECT_EQ(h.WorkerRow(gw).status_reason, "JOB_CANCELED");
  EXPECT_EQ(h.launcher().live_units(), 0);
}

TEST(SupervisorHarnessTest, ACancelReachesEveryActiveDescendantInOneCommit) {
  ServiceHarness h;
  Result<core::Job> root = h.Submit(CommandJob(1));
  Result<core::Job> child = h.Submit(CommandJob(2, root->id));
  ASSERT_TRUE(child.ok());
  Result<core::Job> canceled =
      h.Run(h.sup().jobs().CancelJob({"ws", ""}, root->id, std::chrono::milliseconds(10), true));
  ASSERT_TRUE(canceled.ok()) << canceled.error().message;
  EXPECT_EQ(canceled->status, JobState::kCanceled);
  EXPECT_EQ(h.JobRow(child->id).status, JobState::kCanceled);
  EXPECT_EQ(h.JobRow(child->id).completed_at, h.JobRow(root->id).completed_at);
  for (const core::Worker& w : h.WorkersOf(child->id)) {
    EXPECT_EQ(w.status, WorkerState::kTerminated) << w.id;
  }
  // Canceling again: 409 with the job's state.
  Result<core::Job> again =
      h.Run(h.sup().jobs().CancelJob({"ws", ""}, root->id, std::chrono::milliseconds(10), true));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kInvalidStateTransition);
}

TEST(SupervisorHarnessTest, AJobWhoseDependencyFailsIsCanceledWithoutEverStarting) {
  ServiceHarness h;
  Result<core::Job> dep = h.Submit(CommandJob(1));
  JobSpec spec = CommandJob(1);
  spec.depends_on = {dep->id};
  Result<core::Job> job = h.Submit(spec);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->status, JobState::kPending);
  EXPECT_EQ(job->status_reason, "WAITING_FOR_DEPENDENCIES");
  EXPECT_EQ(h.launcher().spawns(), 1);
  ASSERT_TRUE(h.launcher().Exit(h.WorkersOf(dep->id)[0].id, kBad));
  ASSERT_TRUE(h.WaitJob(job->id, JobState::kCanceled));
  EXPECT_EQ(h.JobRow(job->id).status_reason, "DEPENDENCY_FAILED");
  EXPECT_EQ(h.launcher().spawns(), 1);
}

TEST(SupervisorHarnessTest, ASlotGivenBackStartsTheNextQueuedJobInOrder) {
  ServiceHarness h;
  Result<QuotasView> q = h.Run(h.sup().scheduler().SetQuotas({"ws", ""}, {{0, 1}}));
  ASSERT_TRUE(q.ok());
  Result<core::Job> a = h.Submit(CommandJob(1));
  Result<core::Job> b = h.Submit(CommandJob(1));
  Result<core::Job> c = h.Submit(CommandJob(1));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(b->status_reason, "WAITING_FOR_QUOTA");
  EXPECT_EQ(h.launcher().spawns(), 1);
  ASSERT_TRUE(h.launcher().Exit(h.WorkersOf(a->id)[0].id, kOk));
  ASSERT_TRUE(h.WaitJob(b->id, JobState::kRunning));
  EXPECT_EQ(h.JobRow(c->id).status, JobState::kPending);
  EXPECT_EQ(h.sup().scheduler().GetQuotas({"ws", ""}).quotas[0].used, 1);
}

TEST(SupervisorHarnessTest, APauseThatMeetsTheExitAnswers409AndTheExitIsRecorded) {
  ServiceHarness h;
  Result<core::Job> job = h.Submit(CommandJob(1));
  const std::string w = h.WorkersOf(job->id)[0].id;
  h.launcher().set_pause_stops(false);  // the SIGSTOP lands after the process exited
  auto pause = std::make_shared<std::optional<Result<core::Worker>>>();
  h.Start(h.sup().workers().Pause({"ws", ""}, w), pause);
  ASSERT_TRUE(h.launcher().Exit(w, kOk));
  ASSERT_TRUE(h.Loop([&] { return pause->has_value(); }));
  ASSERT_FALSE((*pause)->ok());
  EXPECT_EQ((*pause)->error().code, ErrorCode::kInvalidStateTransition);
  ASSERT_TRUE(h.WaitJob(job->id, JobState::kCompleted));
  EXPECT_EQ(h.WorkerRow(w).status, WorkerState::kCompleted);
}

TEST(SupervisorHarnessTest, APauseGivesTheSlotBackAndAResumeNeedsOneAgain) {
  ServiceHarness h;
  ASSERT_TRUE(h.Run(h.sup().scheduler().SetQuotas({"ws", ""}, {{0, 1}})).ok());
  Result<core::Job> a = h.Submit(CommandJob(1));
  const std::string wa = h.WorkersOf(a->id)[0].id;
  Result<core::Worker> paused = h.Run(h.sup().workers().Pause({"ws", ""}, wa));
  ASSERT_TRUE(paused.ok()) << paused.error().message;
  EXPECT_EQ(paused->status, WorkerState::kPaused);
  Result<core::Job> b = h.Submit(CommandJob(1));  // takes the slot the pause gave back
  EXPECT_EQ(b->status, JobState::kRunning);
  Result<core::Worker> resumed = h.Run(h.sup().workers().Resume({"ws", ""}, wa));
  ASSERT_FALSE(resumed.ok());
  EXPECT_EQ(resumed.error().code, ErrorCode::kQuotaExceeded);
  ASSERT_TRUE(h.launcher().Exit(h.WorkersOf(b->id)[0].id, kOk));
  ASSERT_TRUE(h.WaitJob(b->id, JobState::kCompleted));
  resumed = h.Run(h.sup().workers().Resume({"ws", ""}, wa));
  ASSERT_TRUE(resumed.ok()) << resumed.error().message;
  EXPECT_EQ(resumed->status, WorkerState::kRunning);
}

TEST(SupervisorHarnessTest, ACancelRacingTheSlotHandOverLeavesNothingRunning) {
  ServiceHarness h;
  ASSERT_TRUE(h.Run(h.sup().scheduler().SetQuotas({"ws", ""}, {{0, 1}})).ok());
  Result<core::Job> a = h.Submit(CommandJob(1));
  Result<core::Job> b = h.Submit(CommandJob(1));
  // A's exit hands its slot to B while B is being canceled.
  ASSERT_TRUE(h.launcher().Exit(h.WorkersOf(a->id)[0].id, kOk));
  auto cancel = std::make_shared<std::optional<Result<core::Job>>>();
  h.Start(h.sup().jobs().CancelJob({"ws", ""}, b->id, std::chrono::milliseconds(10), true), cancel);
  ASSERT_TRUE(h.Loop([&] { return cancel->has_value(); }));
  ASSERT_TRUE((*cancel)->ok()) << (*cancel)->error().message;
  h.Settle();
  EXPECT_EQ(h.JobRow(b->id).status, JobState::kCanceled);
  EXPECT_EQ(h.launcher().live_units(), 0);
  EXPECT_EQ(h.sup().scheduler().GetQuotas({"ws", ""}).quotas[0].used, 0);
}

TEST(SupervisorHarnessTest, ARetryDueAfterItsJobEndedStartsNothing) {
  ServiceHarness h;
  JobSpec spec = CommandJob(2);
  spec.retry.max_attempts = 3;
  spec.retry.initial_backoff_ms = 40;
  spec.retry.jitter = 0;
  Result<core::Job> job = h.Submit(spec);
  std::vector<core::Worker> ws = h.WorkersOf(job->id);
  ASSERT_TRUE(h.launcher().Exit(ws[0].id, kBad));
  ASSERT_TRUE(h.WaitWorker(ws[0].id, WorkerState::kRetrying));
  Result<core::Job> canceled =
      h.Run(h.sup().jobs().CancelJob({"ws", ""}, job->id, std::chrono::milliseconds(10), true));
  ASSERT_TRUE(canceled.ok());
  h.Settle(std::chrono::milliseconds(100));  // past the backoff
  EXPECT_EQ(h.launcher().spawns(), 2);
  EXPECT_EQ(h.WorkerRow(ws[0].id).status, WorkerState::kTerminated);
  EXPECT_EQ(h.launcher().live_units(), 0);
}

TEST(SupervisorHarnessTest, SomeoneElsesStopAndContinueAreRecorded) {
  ServiceHarness h;
  Result<core::Job> job = h.Submit(CommandJob(1));
  const std::string w = h.WorkersOf(job->id)[0].id;
  ASSERT_TRUE(h.launcher().StopFromOutside(w));
  ASSERT_TRUE(h.WaitWorker(w, WorkerState::kPaused));
  EXPECT_EQ(h.WorkerRow(w).status_reason, "STOPPED_EXTERNALLY");
  ASSERT_TRUE(h.launcher().ContinueFromOutside(w));
  ASSERT_TRUE(h.WaitWorker(w, WorkerState::kRunning));
  EXPECT_EQ(h.WorkerRow(w).status_reason, "CONTINUED_EXTERNALLY");
}

TEST(SupervisorHarnessTest, APauseTheKernelHasNotConfirmedIsNotTakenBackByALateNotification) {
  ServiceHarness h;
  Result<core::Job> job = h.Submit(CommandJob(1));
  const std::string w = h.WorkersOf(job->id)[0].id;
  // The SIGSTOP stays pending past the pause's wait for it (a loaded machine): recorded PAUSED.
  h.launcher().set_pause_stops(false);
  Result<core::Worker> paused = h.Run(h.sup().workers().Pause({"ws", ""}, w));
  ASSERT_TRUE(paused.ok()) << paused.error().message;
  EXPECT_EQ(paused->status, WorkerState::kPaused);
  // The notification of an earlier SIGCONT (the resume before this pause) comes in only now,
  // the process still running: not someone else's SIGCONT.
  ASSERT_TRUE(h.launcher().NotifyContinued(w));
  h.Settle();
  EXPECT_EQ(h.WorkerRow(w).status, WorkerState::kPaused);
  EXPECT_EQ(h.WorkerRow(w).status_reason, "PAUSE_REQUESTED");
  // The stop takes effect; a SIGCONT from outside after that is one.
  ASSERT_TRUE(h.launcher().StopFromOutside(w));
  h.Settle();
  EXPECT_EQ(h.WorkerRow(w).status, WorkerState::kPaused);
  ASSERT_TRUE(h.launcher().ContinueFromOutside(w));
  ASSERT_TRUE(h.WaitWorker(w, WorkerState::kRunning));
  EXPECT_EQ(h.WorkerRow(w).status_reason, "CONTINUED_EXTERNALLY");
  EXPECT_THAT(h.History(w),
              ElementsAre(">IDLE:CREATED", "IDLE>RUNNING:SPAWNED", "RUNNING>PAUSED:PAUSE_REQUESTED",
                          "PAUSED>RUNNING:CONTINUED_EXTERNALLY"));
}

TEST(SupervisorHarnessTest, AfterARestartRunningWorkersAreFailedAndQueuedJobsStart) {
  ServiceHarness h;
  ASSERT_TRUE(h.Run(h.sup().scheduler().SetQuotas({"ws", ""}, {{0, 1}})).ok());
  Result<core::Job> a = h.Submit(CommandJob(1));
  Result<core::Job> b = h.Submit(CommandJob(1));
  ASSERT_TRUE(b.ok());
  h.Settle();
  h.Restart();
  ASSERT_TRUE(h.WaitJob(a->id, JobState::kFailed));
  const core::Worker wa = h.WorkersOf(a->id)[0];
  EXPECT_EQ(wa.status_reason, "SUPERVISOR_RESTART");
  ASSERT_TRUE(h.WaitJob(b->id, JobState::kRunning));  // the slot A held went to B
  EXPECT_EQ(h.launcher().live_units(), 1);
}

}  // namespace
}  // namespace overseer::service::testing
