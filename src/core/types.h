// Domain records shared by core, store and service: jobs, workers, transitions, events.
// Plain values; JSON documents (task, metadata, result) are kept as serialized text so
// that core and store need no JSON library. Any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"

namespace overseer::core {

enum class WorkerState { kIdle, kRunning, kPaused, kCompleted, kFailed, kRetrying, kTerminated };
enum class JobState { kSubmitted, kPending, kRunning, kCompleted, kFailed, kCanceled };

std::string_view WorkerStateName(WorkerState s);  // "RUNNING"
std::optional<WorkerState> ParseWorkerState(std::string_view s);
std::string_view JobStateName(JobState s);
std::optional<JobState> ParseJobState(std::string_view s);

struct RetryPolicy {
  int max_attempts = 1;  // 1 = no retry
  int64_t initial_backoff_ms = 1000;
  int64_t max_backoff_ms = 60000;
  double multiplier = 2.0;
  double jitter = 0.1;  // 0..1, fraction of the delay
};

// A kill switch thrown on a job's subtree (SPEC §11): freeze (every process stopped, held
// until an unhalt) or terminate (the subtree ended). Either way no new job is accepted in it.
enum class HaltMode { kFreeze, kTerminate };
std::string_view HaltModeName(HaltMode m);  // "freeze"
std::optional<HaltMode> ParseHaltMode(std::string_view s);

// Who halted, why and when. `workspace_wide`: thrown by POST /api/halt on every root job of
// the workspace (lifted by POST /api/unhalt, not by the job's own unhalt).
struct Halt {
  HaltMode mode = HaltMode::kFreeze;
  std::string reason;  // free text from the caller
  std::string by;      // the subject (`sub`) of the caller's token
  TimeMs at = 0;
  bool workspace_wide = false;
  // Thrown by the job's own budget running out (SPEC §11: reason BUDGET_EXHAUSTED), not by a
  // caller: raising the budget (PATCH /api/jobs/{id}) lifts it, an unhalt does not.
  bool budget = false;
};

// What a spent budget does to its subtree (SPEC §11): freeze it (resumable once the budget is
// raised) or end it.
enum class BudgetExhaustion { kPause, kTerminate };
std::string_view BudgetExhaustionName(BudgetExhaustion b);  // "pause"
std::optional<BudgetExhaustion> ParseBudgetExhaustion(std::string_view s);

// A job's budget (SPEC §11): limits on its whole subtree. Unset fields: no limit of that kind.
struct Budget {
  std::optional<double> usd;
  std::optional<int64_t> tokens;  // every kind: input, output, cache read and cache write
  std::optional<int64_t> max_children;
  std::optional<int64_t> max_descendants;
  BudgetExhaustion on_exhausted = BudgetExhaustion::kPause;

  bool operator==(const Budget&) const = default;
};

// What a job's subtree has used: the spend of every agent worker of it and of every job
// below it, and how many jobs were ever created below it (children: directly).
struct JobUsage {
  double usd = 0;
  int64_t tokens = 0;
  int64_t descendants = 0;
  int64_t children = 0;

  bool operator==(const JobUsage&) const = default;
};

struct Job {
  std::string id;
  std::string workspace_id;
  std::string name;
  JobState status = JobState::kSubmitted;
  int depth = 0;
  std::string parent_job_id;            // empty: root
  std::vector<std::string> depends_on;  // job ids
  int worker_count = 1;
  int64_t timeout_seconds = 0;  // 0: none
  // No output line for this long (paused time not counted) fails the attempt (STALLED); 0: none.
  int64_t stall_seconds = 0;
  RetryPolicy retry;
  std::string task_json;      // {"runtime":"command","command":[...],...}
  std::string metadata_json;  // object, "{}" if none
  std::string result_json;    // "" if none
  std::string status_reason;
  TimeMs created_at = 0;
  TimeMs updated_at = 0;
  TimeMs started_at = 0;    // 0: null
  TimeMs completed_at = 0;  // 0: null
  // Set on the job a halt was thrown on (not on its descendants, which it covers too).
  // Not a mutable column of a JobUpdate: written only by ChangeSet::job_halts.
  std::optional<Halt> halted;
  // The job's own budget (nullopt: none; it shares what the budgets above it have left).
  std::optional<Budget> budget;
  // Its subtree's usage (written by ChangeSet::job_usages, never by a JobUpdate).
  JobUsage usage;
};

struct Worker {
  std::string id;
  std::string workspace_id;
  std::string job_id;
  WorkerState status = WorkerState::kIdle;
  std::string status_reason;  // reason of the last transition
  int64_t pid = 0;            // 0: null
  int64_t pgid = 0;           // process group of the current attempt
  std::optional<int> exit_code;
  std::optional<int> exit_signal;
  int attempt = 0;            // 1 for the first spawn
  std::string metadata_json;  // "{}" if none
  std::string cgroup_path;    // "" when not in a cgroup
  std::string log_path;
  TimeMs created_at = 0;
  TimeMs updated_at = 0;
  TimeMs started_at = 0;  // 0: null
  TimeMs ended_at = 0;    // 0: null
  // Agent runtimes: the `agent` object (JSON, SPEC §11) as of the last change; "" otherwise.
  std::string agent_json;
};

// A claim on `worker_count` worker slots at one depth of one workspace (SPEC §1). The
// scheduler takes one per worker (worker_id set) while it runs; POST /api/resources/allocate
// takes them for a job (worker_id empty).
struct Allocation {
  std::string id;  // "a_..."
  std::string workspace_id;
  std::string job_id;
  std::string worker_id;  // "" for an allocation made through the API
  int depth = 0;
  int worker_count = 1;
  TimeMs allocated_at = 0;
  TimeMs released_at = 0;  // 0: still held
};

// The slots a workspace may use at one depth (a row overrides the daemon's default).
struct Quota {
  std::string workspace_id;
  int depth = 0;
  int max_workers = 0;
  TimeMs updated_at = 0;
};

struct Transition {
  std::string from_state;  // "" for the creation row
  std::string to_state;
  std::string reason;
  TimeMs timestamp = 0;
};

// The kinds of event of SPEC §10 (its `type` field). Every change of §2 is one.
enum class EventType {
  kWorkerTransition,    // "worker.transition"
  kJobTransition,       // "job.transition"
  kAllocationCreated,   // "allocation.created"
  kAllocationReleased,  // "allocation.released"
  kQuotaChanged,        // "quota.changed"
  kJobHalted,           // "job.halted"
  kJobUnhalted,         // "job.unhalted"
  kBudgetExhausted,     // "budget.exhausted"
};
std::string_view EventTypeName(EventType t);  // "worker.transition"
std::optional<EventType> ParseEventType(std::string_view s);

// One entry of the event log (SPEC §10), written in the same transaction as the change.
struct Event {
  int64_t seq = 0;  // assigned by the store; increasing
  std::string workspace_id;
  EventType type = EventType::kWorkerTransition;
  std::string job_id;      // "" when none
  std::string worker_id;   // "" when none
  std::string from_state;  // "" when none (a creation, or not a transition)
  std::string to_state;
  std::string reason;
  std::string data_json = "{}";  // object: what else the event carries (attempt, retry_in_ms...)
  TimeMs created_at = 0;
};

}  // namespace overseer::core
