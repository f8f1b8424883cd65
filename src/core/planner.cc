#include "core/planner.h"

#include <string>

#include "core/events.h"

namespace overseer::core {
namespace {

// A slot is held while the worker runs or waits to retry; a pause (SPEC §2) or the end gives
// it back. (Someone else's SIGSTOP keeps it: the worker did not ask to give it up.)
bool ReleasesSlot(WorkerEvent event, WorkerState to) {
  return event == WorkerEvent::kPause || to == WorkerState::kCompleted ||
         to == WorkerState::kFailed || to == WorkerState::kTerminated;
}

Result<WorkerChange> Move(const Worker& from_row, WorkerEvent event, const std::string& reason,
                          const std::function<void(Worker&)>& mutate, TimeMs now) {
  Result<WorkerState> next = NextWorkerState(from_row.status, event);
  if (!next) {
    Error err = next.error();
    err.With("worker_id", from_row.id);
    return err;
  }
  WorkerChange c;
  c.from = from_row.status;
  c.row = from_row;
  c.row.status = *next;
  c.row.status_reason = reason;
  c.row.updated_at = now;
  if (mutate) mutate(c.row);
  c.transition = Transition{std::string(WorkerStateName(c.from)),
                            std::string(WorkerStateName(c.row.status)), reason, now};
  return c;
}

// The job following its workers once `changed` has its new state.
Result<std::optional<JobChange>> FollowJob(const WorkerSubject& s, const Worker& changed,
                                           TimeMs now) {
  if (s.job == nullptr) return std::optional<JobChange>();
  std::vector<WorkerState> states;
  states.reserve(s.siblings.size());
  for (const Worker* sibling : s.siblings) {
    states.push_back(sibling->id == changed.id ? changed.status : sibling->status);
  }
  std::optional<JobState> to = JobStatusFromWorkers(s.job->status, states, s.children_active);
  if (!to) return std::optional<JobChange>();
  const char* reason = "WORKERS_STARTED";
  if (IsTerminalJobState(*to)) {
    reason = *to == JobState::kCompleted                  ? "ALL_WORKERS_COMPLETED"
             : changed.status == WorkerState::kTerminated ? "WORKER_TERMINATED"
                                                          : "WORKER_FAILED";
  }
  Result<JobChange> j = PlanJobTransition(*s.job, *to, reason, s.siblings, now, &changed);
  if (!j) return j.error();
  return std::optional<JobChange>(std::move(*j));
}

}  // namespace

Result<WorkerPlan> PlanWorkerTransition(const WorkerSubject& subject, WorkerEvent event,
                                        const std::string& reason,
                                        const std::function<void(Worker&)>& mutate, TimeMs now) {
  Result<WorkerChange> c = Move(subject.worker, event, reason, mutate, now);
  if (!c) return c.error();
  WorkerPlan plan;
  plan.releases_slot = subject.holds_slot && ReleasesSlot(event, c->row.status);
  plan.events.push_back(WorkerTransitionEvent(c->row, WorkerStateName(c->from), now));
  Result<std::optional<JobChange>> job = FollowJob(subject, c->row, now);
  if (!job) return job.error();
  plan.changes.push_back(std::move(*c));
  if (*job) {
    plan.events.push_back(JobTransitionEvent((*job)->row, JobStateName((*job)->from), now));
    plan.job = std::move(**job);
  }
  return plan;
}

Result<WorkerPlan> PlanFailure(const WorkerSubject& subject, const std::string& reason,
                               const std::function<void(Worker&)>& mutate,
                               std::optional<int64_t> retry_in_ms, TimeMs now) {
  if (!retry_in_ms) {
    return PlanWorkerTransition(subject, WorkerEvent::kExitedBad, reason, mutate, now);
  }
  // FAILED then RETRYING in one plan, so the job never sees a retryable failure; the worker
  // keeps its slot while it waits.
  Result<WorkerChange> failed = Move(subject.worker, WorkerEvent::kExitedBad, reason, mutate, now);
  if (!failed) return failed.error();
  Result<WorkerChange> retrying =
      Move(failed->row, WorkerEvent::kRetry, "RETRY_SCHEDULED", nullptr, now);
  if (!retrying) return retrying.error();
  WorkerPlan plan;
  plan.events.push_back(WorkerTransitionEvent(failed->row, WorkerStateName(failed->from), now));
  plan.events.push_back(
      WorkerTransitionEvent(retrying->row, WorkerStateName(retrying->from), now, *retry_in_ms));
  plan.changes.push_back(std::move(*failed));
  plan.changes.push_back(std::move(*retrying));
  return plan;
}

Error JobTransitionError(const Job& job, JobState requested) {
  Error e = MakeError(ErrorCode::kInvalidStateTransition,
                      "job is " + std::string(JobStateName(job.status)) + ", cannot become " +
                          std::string(JobStateName(requested)));
  e.With("job_id", job.id)
      .With("current_state", std::string(JobStateName(job.status)))
      .With("requested_state", std::string(JobStateName(requested)));
  return e;
}

std::string JobResultJson(std::span<const Worker* const> workers, const Worker* changed) {
  std::string codes;
  for (const Worker* w : workers) {
    const Worker& r = changed != nullptr && changed->id == w->id ? *changed : *w;
    if (!codes.empty()) codes += ",";
    codes += r.exit_code ? std::to_string(*r.exit_code) : "null";
  }
  return "{\"exit_codes\":[" + codes + "]}";
}

Result<JobChange> PlanJobTransition(const Job& job, JobState to, const std::string& reason,
                                    std::span<const Worker* const> workers, TimeMs now,
                                    const Worker* changed) {
  if (!IsLegalJobTransition(job.status, to)) return JobTransitionError(job, to);
  JobChange c;
  c.from = job.status;
  c.row = job;
  c.row.status = to;
  c.row.status_reason = reason;
  c.row.updated_at = now;
  if (to == JobState::kRunning && c.row.started_at == 0) c.row.started_at = now;
  if (IsTerminalJobState(to)) {
    c.row.completed_at = now;
    c.row.result_json = JobResultJson(workers, changed);
  }
  return c;
}

void RecordStart(Worker& r, int attempt, TimeMs now) {
  r.attempt = attempt;
  r.pid = 0;
  r.pgid = 0;
  r.cgroup_path.clear();
  r.started_at = now;
  r.ended_at = 0;
  r.exit_code.reset();
  r.exit_signal.reset();
}

}  // namespace overseer::core
