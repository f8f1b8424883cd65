// The planners: pure decisions of every status change. Given a worker (or a job), its siblings
// and what happened, they answer the new rows, the transition rows, the events and the slot
// effect, or the 409 with its details; the services carry the answer out (commit, then memory,
// then publish). Every worker change goes through the worker table of SPEC §2 and every job
// change through the job table (state_machine.h). Pure; any thread.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "core/state_machine.h"
#include "core/types.h"

namespace overseer::core {

// One status change of a worker: its new row and its transition row.
struct WorkerChange {
  Worker row;
  WorkerState from = WorkerState::kIdle;
  Transition transition;
};

// One status change of a job: its new row and the state it leaves.
struct JobChange {
  Job row;
  JobState from = JobState::kPending;
};

// What a worker's transition amounts to: its rows (two for FAILED -> RETRYING), the job's row
// when the job follows, the events of both, and the slot effect.
struct WorkerPlan {
  std::vector<WorkerChange> changes;  // in order; the last is the worker's new state
  std::optional<JobChange> job;
  std::vector<Event> events;
  bool releases_slot = false;  // the slot the worker holds is given back
  const Worker& final_row() const { return changes.back().row; }
};

// The worker being moved, seen with its job: `job` is nullptr for a worker whose job is not
// known here; `siblings` are every worker of the job in order, the moved one included (as it is
// now). `children_active`: the job has an active child job (it cannot COMPLETE yet).
struct WorkerSubject {
  const Worker& worker;
  const Job* job = nullptr;
  std::span<const Worker* const> siblings;
  bool children_active = false;
  bool holds_slot = false;
};

// Moves the worker by `event` (new row built with `mutate`, reason `reason`) and lets the job
// follow (JobStatusFromWorkers). kInvalidStateTransition {current_state, requested_state,
// worker_id} when the table has no such move.
Result<WorkerPlan> PlanWorkerTransition(const WorkerSubject& subject, WorkerEvent event,
                                        const std::string& reason,
                                        const std::function<void(Worker&)>& mutate, TimeMs now);

// A failed attempt (RUNNING -> FAILED, reason `reason`, row built with `mutate`). With
// `retry_in_ms` (a retry is left and allowed) the worker goes on to RETRYING in the same plan
// (reason RETRY_SCHEDULED) and the job does not follow; without, FAILED is final.
Result<WorkerPlan> PlanFailure(const WorkerSubject& subject, const std::string& reason,
                               const std::function<void(Worker&)>& mutate,
                               std::optional<int64_t> retry_in_ms, TimeMs now);

// Moves a job to `to` with `reason` through the job table. A terminal row gets completed_at and
// its result ({"exit_codes": [...]}, from `workers`, `changed` standing in for the worker of the
// same id); RUNNING gets started_at. kInvalidStateTransition {job_id, current_state,
// requested_state} when the table has no such move.
Result<JobChange> PlanJobTransition(const Job& job, JobState to, const std::string& reason,
                                    std::span<const Worker* const> workers, TimeMs now,
                                    const Worker* changed = nullptr);

// The 409 of a job that cannot move to `requested`.
Error JobTransitionError(const Job& job, JobState requested);

// The result document of a terminal job: {"exit_codes":[0,null,...]}.
std::string JobResultJson(std::span<const Worker* const> workers, const Worker* changed);

// The row changes of the start of attempt `attempt` (RUNNING), before its process is known.
void RecordStart(Worker& r, int attempt, TimeMs now);

}  // namespace overseer::core
