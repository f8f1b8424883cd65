// The kill switch's decisions (see halt.h).
#include "core/halt.h"

namespace overseer::core {

HaltWorkerAction HaltActionFor(HaltMode mode, WorkerState state) {
  switch (state) {
    case WorkerState::kRunning:
      return mode == HaltMode::kFreeze ? HaltWorkerAction::kPause : HaltWorkerAction::kTerminate;
    case WorkerState::kRetrying:
      return HaltWorkerAction::kTerminate;
    case WorkerState::kPaused:
      return mode == HaltMode::kFreeze ? HaltWorkerAction::kNone : HaltWorkerAction::kTerminate;
    case WorkerState::kIdle:
    case WorkerState::kCompleted:
    case WorkerState::kFailed:
    case WorkerState::kTerminated:
      return HaltWorkerAction::kNone;
  }
  return HaltWorkerAction::kNone;
}

bool HaltCancelsJob(HaltMode mode, JobState state) {
  if (mode == HaltMode::kFreeze) return state == JobState::kPending;
  return state == JobState::kPending || state == JobState::kRunning;
}

bool ResumedByUnhalt(const Worker& w) {
  return w.status == WorkerState::kPaused &&
         (w.status_reason == kHaltReason || w.status_reason == kBudgetExhaustedReason);
}

std::string_view HaltReasonOf(const Halt& h) {
  return h.budget ? kBudgetExhaustedReason : kHaltReason;
}

}  // namespace overseer::core
