// The worker and job state machines of SPEC §2, each as one table. Every status change
// in overseer is checked here first (through the planners of planner.h). Pure; any thread.
#pragma once

#include <optional>
#include <span>

#include "common/result.h"
#include "core/types.h"

namespace overseer::core {

// What caused a worker transition.
enum class WorkerEvent {
  kSpawned,           // IDLE -> RUNNING
  kPause,             // RUNNING -> PAUSED
  kResume,            // PAUSED -> RUNNING
  kExitedOk,          // RUNNING -> COMPLETED
  kExitedBad,         // RUNNING -> FAILED (non-zero exit, signal, timeout, restart)
  kRetry,             // FAILED -> RETRYING
  kRespawned,         // RETRYING -> RUNNING
  kTerminate,         // IDLE|RUNNING|PAUSED|RETRYING -> TERMINATED (also a paused process
                      // killed from outside: reason EXITED_WHILE_PAUSED)
  kStoppedOutside,    // RUNNING -> PAUSED (someone else's SIGSTOP)
  kContinuedOutside,  // PAUSED -> RUNNING (someone else's SIGCONT)
};

struct WorkerRule {
  WorkerState from;
  WorkerEvent event;
  WorkerState to;
};

// The whole worker table.
std::span<const WorkerRule> WorkerRules();

// The state `event` leads to from `from`, or kInvalidStateTransition
// {current_state, requested_state}.
Result<WorkerState> NextWorkerState(WorkerState from, WorkerEvent event);

// True if (from -> to) is in the table for some event.
bool IsLegalWorkerTransition(WorkerState from, WorkerState to);

// COMPLETED and TERMINATED; FAILED is terminal only when no retry is left (the caller knows).
bool IsTerminalWorkerState(WorkerState s);
// IDLE, RUNNING, PAUSED, RETRYING: the worker may still change (a supervised FAILED is
// RETRYING at once, so FAILED counts as ended).
bool IsActiveWorkerState(WorkerState s);

struct JobRule {
  JobState from;
  JobState to;
};
std::span<const JobRule> JobRules();
bool IsLegalJobTransition(JobState from, JobState to);
bool IsTerminalJobState(JobState s);  // COMPLETED, FAILED, CANCELED
bool IsActiveJobState(JobState s);    // the others: the job may still change

// The status a job must move to because of its workers' statuses (SPEC §2): FAILED once
// any worker is FAILED (no retry left: the caller moves retryable ones to RETRYING first)
// or TERMINATED (CANCELED instead for a PENDING job, which never ran); COMPLETED when all are
// COMPLETED and no child job is still active
// (`children_active`); RUNNING from PENDING once one started. nullopt: no change.
std::optional<JobState> JobStatusFromWorkers(JobState current, std::span<const WorkerState> workers,
                                             bool children_active = false);

// Delay before retry number `failed_attempt` (1 = after the first failure): initial *
// multiplier^(failed_attempt-1), capped at max, spread by +-jitter. random01 in [0,1).
int64_t BackoffMs(const RetryPolicy& policy, int failed_attempt, double random01);

// The state requested by an event, for error details ("PAUSED" for kPause).
WorkerState RequestedState(WorkerEvent event);

}  // namespace overseer::core
