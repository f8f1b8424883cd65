#include "core/state_machine.h"

#include <array>
#include <string>

namespace overseer::core {
namespace {

using W = WorkerState;
using E = WorkerEvent;

// SPEC §2 worker machine. A paused process can still die (kill -9 from outside, or the
// terminate path's SIGKILL), so exits are legal from PAUSED too: the record follows reality.
constexpr std::array<WorkerRule, 16> kWorkerRules{{
    {W::kIdle, E::kSpawned, W::kRunning},
    {W::kRunning, E::kPause, W::kPaused},
    {W::kPaused, E::kResume, W::kRunning},
    {W::kRunning, E::kExitedOk, W::kCompleted},
    {W::kPaused, E::kExitedOk, W::kCompleted},
    {W::kRunning, E::kExitedBad, W::kFailed},
    {W::kPaused, E::kExitedBad, W::kFailed},
    {W::kFailed, E::kRetry, W::kRetrying},
    {W::kRetrying, E::kRespawned, W::kRunning},
    {W::kIdle, E::kTerminate, W::kTerminated},
    {W::kRunning, E::kTerminate, W::kTerminated},
    {W::kPaused, E::kTerminate, W::kTerminated},
    {W::kRetrying, E::kTerminate, W::kTerminated},
    {W::kRunning, E::kStoppedOutside, W::kPaused},
    {W::kPaused, E::kContinuedOutside, W::kRunning},
    {W::kIdle, E::kExitedBad, W::kFailed},  // spawn failed before the process ran
}};

using J = JobState;
constexpr std::array<JobRule, 8> kJobRules{{
    {J::kSubmitted, J::kPending},
    {J::kPending, J::kRunning},
    {J::kRunning, J::kCompleted},
    {J::kRunning, J::kFailed},
    {J::kPending, J::kCanceled},
    {J::kRunning, J::kCanceled},
    {J::kSubmitted, J::kCanceled},
    {J::kPending, J::kFailed},  // its workers could not be started
}};

}  // namespace

std::span<const WorkerRule> WorkerRules() { return kWorkerRules; }
std::span<const JobRule> JobRules() { return kJobRules; }

WorkerState RequestedState(WorkerEvent event) {
  switch (event) {
    case E::kSpawned: return W::kRunning;
    case E::kPause: return W::kPaused;
    case E::kResume: return W::kRunning;
    case E::kExitedOk: return W::kCompleted;
    case E::kExitedBad: return W::kFailed;
    case E::kRetry: return W::kRetrying;
    case E::kRespawned: return W::kRunning;
    case E::kTerminate: return W::kTerminated;
    case E::kStoppedOutside: return W::kPaused;
    case E::kContinuedOutside: return W::kRunning;
  }
  return W::kFailed;
}

Result<WorkerState> NextWorkerState(WorkerState from, WorkerEvent event) {
  for (const WorkerRule& r : kWorkerRules) {
    if (r.from == from && r.event == event) return r.to;
  }
  Error err = MakeError(ErrorCode::kInvalidStateTransition,
                        "cannot go from " + std::string(WorkerStateName(from)) + " to " +
                            std::string(WorkerStateName(RequestedState(event))));
  err.With("current_state", std::string(WorkerStateName(from)))
      .With("requested_state", std::string(WorkerStateName(RequestedState(event))));
  return err;
}

bool IsLegalWorkerTransition(WorkerState from, WorkerState to) {
  for (const WorkerRule& r : kWorkerRules) {
    if (r.from == from && r.to == to) return true;
  }
  return false;
}

bool IsTerminalWorkerState(WorkerState s) {
  return s == W::kCompleted || s == W::kTerminated;
}

bool IsLegalJobTransition(JobState from, JobState to) {
  for (const JobRule& r : kJobRules) {
    if (r.from == from && r.to == to) return true;
  }
  return false;
}

bool IsTerminalJobState(JobState s) {
  return s == J::kCompleted || s == J::kFailed || s == J::kCanceled;
}

}  // namespace overseer::core
