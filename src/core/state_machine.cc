#include "core/state_machine.h"

#include <array>
#include <string>

namespace overseer::core {
namespace {

using W = WorkerState;
using E = WorkerEvent;

// SPEC §2 worker machine, exactly. A paused process that dies anyway (kill -9 from outside)
// is recorded PAUSED -> TERMINATED (kTerminate, reason EXITED_WHILE_PAUSED): SPEC §2 has no
// PAUSED -> COMPLETED or FAILED.
constexpr std::array<WorkerRule, 13> kWorkerRules{{
    {W::kIdle, E::kSpawned, W::kRunning},
    {W::kRunning, E::kPause, W::kPaused},
    {W::kPaused, E::kResume, W::kRunning},
    {W::kRunning, E::kExitedOk, W::kCompleted},
    {W::kRunning, E::kExitedBad, W::kFailed},
    {W::kFailed, E::kRetry, W::kRetrying},
    {W::kRetrying, E::kRespawned, W::kRunning},
    {W::kIdle, E::kTerminate, W::kTerminated},
    {W::kRunning, E::kTerminate, W::kTerminated},
    {W::kPaused, E::kTerminate, W::kTerminated},
    {W::kRetrying, E::kTerminate, W::kTerminated},
    {W::kRunning, E::kStoppedOutside, W::kPaused},
    {W::kPaused, E::kContinuedOutside, W::kRunning},
}};

using J = JobState;
// SPEC §2 job machine, exactly. SUBMITTED is never stored: a job is recorded PENDING in the
// transaction that accepts it, and that acceptance is the event SUBMITTED -> PENDING.
constexpr std::array<JobRule, 6> kJobRules{{
    {J::kSubmitted, J::kPending},
    {J::kPending, J::kRunning},
    {J::kRunning, J::kCompleted},
    {J::kRunning, J::kFailed},
    {J::kPending, J::kCanceled},
    {J::kRunning, J::kCanceled},
}};

}  // namespace

std::span<const WorkerRule> WorkerRules() { return kWorkerRules; }
std::span<const JobRule> JobRules() { return kJobRules; }

WorkerState RequestedState(WorkerEvent event) {
  switch (event) {
    case E::kSpawned:
      return W::kRunning;
    case E::kPause:
      return W::kPaused;
    case E::kResume:
      return W::kRunning;
    case E::kExitedOk:
      return W::kCompleted;
    case E::kExitedBad:
      return W::kFailed;
    case E::kRetry:
      return W::kRetrying;
    case E::kRespawned:
      return W::kRunning;
    case E::kTerminate:
      return W::kTerminated;
    case E::kStoppedOutside:
      return W::kPaused;
    case E::kContinuedOutside:
      return W::kRunning;
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

bool IsTerminalWorkerState(WorkerState s) { return s == W::kCompleted || s == W::kTerminated; }

bool IsActiveWorkerState(WorkerState s) {
  return s == W::kIdle || s == W::kRunning || s == W::kPaused || s == W::kRetrying;
}

std::optional<JobState> JobStatusFromWorkers(JobState current, std::span<const WorkerState> workers,
                                             bool children_active) {
  if (IsTerminalJobState(current) || workers.empty()) return std::nullopt;
  bool all_completed = true;
  bool any_started = false;
  for (WorkerState w : workers) {
    if (w == W::kFailed || w == W::kTerminated) {
      // A PENDING job never ran: a worker of it ended (terminated while IDLE) cancels it, as
      // SPEC §2 has no PENDING -> FAILED.
      if (current == J::kPending) return J::kCanceled;
      return current == J::kRunning ? std::optional(J::kFailed) : std::nullopt;
    }
    if (w != W::kCompleted) all_completed = false;
    if (w != W::kIdle) any_started = true;
  }
  if (all_completed) {
    if (current == J::kRunning && !children_active) return J::kCompleted;
    return std::nullopt;  // PENDING workers cannot complete without running first
  }
  if (current == J::kPending && any_started) return J::kRunning;
  return std::nullopt;
}

int64_t BackoffMs(const RetryPolicy& policy, int failed_attempt, double random01) {
  double delay = static_cast<double>(policy.initial_backoff_ms);
  for (int i = 1; i < failed_attempt; ++i) {
    delay *= policy.multiplier;
    if (delay >= static_cast<double>(policy.max_backoff_ms)) break;
  }
  if (delay > static_cast<double>(policy.max_backoff_ms)) {
    delay = static_cast<double>(policy.max_backoff_ms);
  }
  // Jitter spreads retries over [delay * (1 - jitter), delay * (1 + jitter)].
  delay *= 1.0 + policy.jitter * (2.0 * random01 - 1.0);
  if (delay < 0) delay = 0;
  return static_cast<int64_t>(delay);
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

bool IsActiveJobState(JobState s) { return !IsTerminalJobState(s); }

}  // namespace overseer::core
