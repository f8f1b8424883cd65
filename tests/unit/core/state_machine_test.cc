#include "core/state_machine.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

namespace overseer::core {
namespace {

using W = WorkerState;
using E = WorkerEvent;

constexpr W kAllWorkerStates[] = {W::kIdle,   W::kRunning,  W::kPaused,    W::kCompleted,
                                  W::kFailed, W::kRetrying, W::kTerminated};
constexpr E kAllEvents[] = {E::kSpawned,        E::kPause,           E::kResume,    E::kExitedOk,
                            E::kExitedBad,      E::kRetry,           E::kRespawned, E::kTerminate,
                            E::kStoppedOutside, E::kContinuedOutside};

// SPEC §2, written out independently of the table in state_machine.cc (the external
// stop/continue move between the same states as pause/resume). Nothing else: no PAUSED ->
// COMPLETED or FAILED.
const std::set<std::pair<W, W>> kSpecPairs = {
    {W::kIdle, W::kRunning},      {W::kRunning, W::kPaused},      {W::kPaused, W::kRunning},
    {W::kRunning, W::kCompleted}, {W::kRunning, W::kFailed},      {W::kFailed, W::kRetrying},
    {W::kRetrying, W::kRunning},  {W::kIdle, W::kTerminated},     {W::kRunning, W::kTerminated},
    {W::kPaused, W::kTerminated}, {W::kRetrying, W::kTerminated},
};

TEST(WorkerStateMachineTest, APausedWorkerCannotCompleteOrFail) {
  Result<W> ok = NextWorkerState(W::kPaused, E::kExitedOk);
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, ErrorCode::kInvalidStateTransition);
  Result<W> bad = NextWorkerState(W::kPaused, E::kExitedBad);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidStateTransition);
}

TEST(WorkerStateMachineTest, EveryPairIsLegalExactlyWhenTheSpecSaysSo) {
  for (W from : kAllWorkerStates) {
    for (W to : kAllWorkerStates) {
      const bool expected = kSpecPairs.count({from, to}) != 0;
      EXPECT_EQ(IsLegalWorkerTransition(from, to), expected)
          << WorkerStateName(from) << " -> " << WorkerStateName(to);
    }
  }
}

TEST(WorkerStateMachineTest, EveryEventFromEveryStateEitherMovesLegallyOrFailsWith409Code) {
  for (W from : kAllWorkerStates) {
    for (E ev : kAllEvents) {
      Result<W> next = NextWorkerState(from, ev);
      if (next) {
        EXPECT_TRUE(kSpecPairs.count({from, *next}) != 0)
            << WorkerStateName(from) << " -> " << WorkerStateName(*next);
        EXPECT_EQ(*next, RequestedState(ev));
      } else {
        EXPECT_EQ(next.error().code, ErrorCode::kInvalidStateTransition);
        ASSERT_EQ(next.error().details.size(), 2u);
        EXPECT_EQ(next.error().details[0].first, "current_state");
        EXPECT_EQ(std::get<std::string>(next.error().details[0].second), WorkerStateName(from));
        EXPECT_EQ(next.error().details[1].first, "requested_state");
      }
    }
  }
}

TEST(WorkerStateMachineTest, PausingACompletedWorkerIsRefused) {
  Result<W> r = NextWorkerState(W::kCompleted, E::kPause);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidStateTransition);
  EXPECT_EQ(std::get<std::string>(r.error().details[1].second), "PAUSED");
}

TEST(WorkerStateMachineTest, TerminalStatesHaveNoWayOut) {
  for (W terminal : {W::kCompleted, W::kTerminated}) {
    EXPECT_TRUE(IsTerminalWorkerState(terminal));
    for (E ev : kAllEvents)
      EXPECT_FALSE(NextWorkerState(terminal, ev)) << WorkerStateName(terminal);
  }
  EXPECT_FALSE(IsTerminalWorkerState(W::kFailed));  // terminal only with no retry left
}

TEST(WorkerStateMachineTest, NamesRoundTrip) {
  for (W s : kAllWorkerStates) EXPECT_EQ(ParseWorkerState(WorkerStateName(s)), s);
  EXPECT_FALSE(ParseWorkerState("running"));
  EXPECT_FALSE(ParseWorkerState(""));
}

constexpr JobState kAllJobStates[] = {JobState::kSubmitted, JobState::kPending,
                                      JobState::kRunning,   JobState::kCompleted,
                                      JobState::kFailed,    JobState::kCanceled};

TEST(JobStateMachineTest, EveryPairIsLegalExactlyWhenTheTableSaysSo) {
  const std::set<std::pair<JobState, JobState>> legal = {
      {JobState::kSubmitted, JobState::kPending}, {JobState::kPending, JobState::kRunning},
      {JobState::kRunning, JobState::kCompleted}, {JobState::kRunning, JobState::kFailed},
      {JobState::kPending, JobState::kCanceled},  {JobState::kRunning, JobState::kCanceled}};
  for (JobState from : kAllJobStates) {
    for (JobState to : kAllJobStates) {
      EXPECT_EQ(IsLegalJobTransition(from, to), legal.count({from, to}) != 0)
          << JobStateName(from) << " -> " << JobStateName(to);
    }
  }
  for (JobState s : kAllJobStates) EXPECT_EQ(ParseJobState(JobStateName(s)), s);
}

TEST(JobFollowsWorkersTest, CompletesWhenAllCompleted) {
  const W done[] = {W::kCompleted, W::kCompleted};
  EXPECT_EQ(JobStatusFromWorkers(JobState::kRunning, done), JobState::kCompleted);
  const W mixed[] = {W::kCompleted, W::kRunning};
  EXPECT_EQ(JobStatusFromWorkers(JobState::kRunning, mixed), std::nullopt);
}

TEST(JobFollowsWorkersTest, WaitsForActiveChildrenButFailsWithoutThem) {
  const W done[] = {W::kCompleted};
  EXPECT_EQ(JobStatusFromWorkers(JobState::kRunning, done, /*children_active=*/true), std::nullopt);
  const W failed[] = {W::kFailed};
  EXPECT_EQ(JobStatusFromWorkers(JobState::kRunning, failed, /*children_active=*/true),
            JobState::kFailed);
}

TEST(JobFollowsWorkersTest, FailsOnAFailedOrTerminatedWorker) {
  const W failed[] = {W::kRunning, W::kFailed};
  EXPECT_EQ(JobStatusFromWorkers(JobState::kRunning, failed), JobState::kFailed);
  const W terminated[] = {W::kCompleted, W::kTerminated};
  EXPECT_EQ(JobStatusFromWorkers(JobState::kRunning, terminated), JobState::kFailed);
  const W retrying[] = {W::kRetrying, W::kRunning};
  EXPECT_EQ(JobStatusFromWorkers(JobState::kRunning, retrying), std::nullopt);
}

TEST(JobFollowsWorkersTest, StartsRunningWithTheFirstWorkerAndTerminalJobsStay) {
  const W starting[] = {W::kRunning, W::kIdle};
  EXPECT_EQ(JobStatusFromWorkers(JobState::kPending, starting), JobState::kRunning);
  const W idle[] = {W::kIdle};
  EXPECT_EQ(JobStatusFromWorkers(JobState::kPending, idle), std::nullopt);
  const W failed[] = {W::kFailed};
  EXPECT_EQ(JobStatusFromWorkers(JobState::kCompleted, failed), std::nullopt);
}

TEST(JobFollowsWorkersTest, APendingJobWhoseIdleWorkerIsTerminatedIsCanceledNotFailed) {
  const W terminated[] = {W::kIdle, W::kTerminated};
  EXPECT_EQ(JobStatusFromWorkers(JobState::kPending, terminated), JobState::kCanceled);
  EXPECT_FALSE(IsLegalJobTransition(JobState::kPending, JobState::kFailed));
}

TEST(BackoffTest, GrowsExponentiallyUpToTheCapWithinJitter) {
  RetryPolicy p;
  p.initial_backoff_ms = 100;
  p.max_backoff_ms = 1000;
  p.multiplier = 2.0;
  p.jitter = 0.0;
  EXPECT_EQ(BackoffMs(p, 1, 0.5), 100);
  EXPECT_EQ(BackoffMs(p, 2, 0.5), 200);
  EXPECT_EQ(BackoffMs(p, 3, 0.5), 400);
  EXPECT_EQ(BackoffMs(p, 10, 0.5), 1000);
  p.jitter = 0.5;
  EXPECT_EQ(BackoffMs(p, 1, 0.0), 50);
  EXPECT_EQ(BackoffMs(p, 1, 0.999999), 149);
}

}  // namespace
}  // namespace overseer::core
