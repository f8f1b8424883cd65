// The kill switch's decisions (core/halt.h) and its events (core/events.h).
#include "core/halt.h"

#include <gtest/gtest.h>

#include "core/events.h"

namespace overseer::core {
namespace {

TEST(HaltActionTest, FreezePausesRunningEndsRetryingAndLeavesTheRest) {
  EXPECT_EQ(HaltActionFor(HaltMode::kFreeze, WorkerState::kRunning), HaltWorkerAction::kPause);
  EXPECT_EQ(HaltActionFor(HaltMode::kFreeze, WorkerState::kRetrying), HaltWorkerAction::kTerminate);
  for (WorkerState s : {WorkerState::kIdle, WorkerState::kPaused, WorkerState::kCompleted,
                        WorkerState::kFailed, WorkerState::kTerminated}) {
    EXPECT_EQ(HaltActionFor(HaltMode::kFreeze, s), HaltWorkerAction::kNone) << WorkerStateName(s);
  }
}

TEST(HaltActionTest, TerminateEndsEveryStartedWorker) {
  for (WorkerState s : {WorkerState::kRunning, WorkerState::kPaused, WorkerState::kRetrying}) {
    EXPECT_EQ(HaltActionFor(HaltMode::kTerminate, s), HaltWorkerAction::kTerminate)
        << WorkerStateName(s);
  }
  for (WorkerState s : {WorkerState::kIdle, WorkerState::kCompleted, WorkerState::kFailed,
                        WorkerState::kTerminated}) {
    EXPECT_EQ(HaltActionFor(HaltMode::kTerminate, s), HaltWorkerAction::kNone)
        << WorkerStateName(s);
  }
}

TEST(HaltActionTest, FreezeCancelsPendingJobsTerminateEveryActiveOne) {
  EXPECT_TRUE(HaltCancelsJob(HaltMode::kFreeze, JobState::kPending));
  EXPECT_FALSE(HaltCancelsJob(HaltMode::kFreeze, JobState::kRunning));
  EXPECT_TRUE(HaltCancelsJob(HaltMode::kTerminate, JobState::kPending));
  EXPECT_TRUE(HaltCancelsJob(HaltMode::kTerminate, JobState::kRunning));
  for (JobState s : {JobState::kCompleted, JobState::kFailed, JobState::kCanceled}) {
    EXPECT_FALSE(HaltCancelsJob(HaltMode::kFreeze, s));
    EXPECT_FALSE(HaltCancelsJob(HaltMode::kTerminate, s));
  }
}

TEST(HaltActionTest, UnhaltResumesOnlyWhatTheHaltPaused) {
  Worker w;
  w.status = WorkerState::kPaused;
  w.status_reason = std::string(kHaltReason);
  EXPECT_TRUE(ResumedByUnhalt(w));
  w.status_reason = "PAUSE_REQUESTED";
  EXPECT_FALSE(ResumedByUnhalt(w));
  w.status = WorkerState::kTerminated;
  w.status_reason = std::string(kHaltReason);
  EXPECT_FALSE(ResumedByUnhalt(w));
}

TEST(HaltModeTest, NamesRoundTrip) {
  for (HaltMode m : {HaltMode::kFreeze, HaltMode::kTerminate}) {
    EXPECT_EQ(ParseHaltMode(HaltModeName(m)), m);
  }
  EXPECT_FALSE(ParseHaltMode("Freeze").has_value());
  EXPECT_FALSE(ParseHaltMode("").has_value());
  EXPECT_EQ(ParseEventType("job.halted"), EventType::kJobHalted);
  EXPECT_EQ(EventTypeName(EventType::kJobUnhalted), "job.unhalted");
}

TEST(HaltEventTest, CarriesWhoAndWhyAsEscapedJson) {
  const Halt h{HaltMode::kTerminate, "say \"no\"\\\n\x01", "ops@x", 5, false};
  Event e = JobHaltedEvent("ws", "j_1", h, 7);
  EXPECT_EQ(e.type, EventType::kJobHalted);
  EXPECT_EQ(e.job_id, "j_1");
  EXPECT_EQ(e.created_at, 7);
  EXPECT_EQ(e.data_json,
            R"({"mode":"terminate","reason":"say \"no\"\\\n\u0001","workspace_wide":false,)"
            R"("by":"ops@x"})");
  Event u = JobUnhaltedEvent("ws", "", h, "lead", 9);
  EXPECT_EQ(u.type, EventType::kJobUnhalted);
  EXPECT_EQ(u.job_id, "");
  EXPECT_NE(u.data_json.find(R"("halted_by":"ops@x","by":"lead")"), std::string::npos)
      << u.data_json;
}

}  // namespace
}  // namespace overseer::core
