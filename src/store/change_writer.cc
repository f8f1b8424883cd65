// WriteChangeSet: the backend-neutral order of a ChangeSet's writes, and the row arithmetic it
// needs (folding updates into inserts, transition rows).
#include "store/change_writer.h"

#include <string>
#include <vector>

namespace overseer::store {

core::Job WithMutableColumns(const core::Job& base, const core::Job& update) {
  core::Job j = base;
  j.status = update.status;
  j.status_reason = update.status_reason;
  j.started_at = update.started_at;
  j.completed_at = update.completed_at;
  j.result_json = update.result_json;
  j.updated_at = update.updated_at;
  return j;
}

core::Worker WithMutableColumns(const core::Worker& base, const core::Worker& update) {
  core::Worker w = base;
  w.status = update.status;
  w.status_reason = update.status_reason;
  w.pid = update.pid;
  w.pgid = update.pgid;
  w.exit_code = update.exit_code;
  w.exit_signal = update.exit_signal;
  w.attempt = update.attempt;
  w.metadata_json = update.metadata_json;
  w.cgroup_path = update.cgroup_path;
  w.log_path = update.log_path;
  w.updated_at = update.updated_at;
  w.started_at = update.started_at;
  w.ended_at = update.ended_at;
  w.agent_json = update.agent_json;
  return w;
}

core::Transition TransitionOf(const WorkerUpdate& u) {
  core::Transition t = u.transition;
  if (t.from_state.empty()) t.from_state = std::string(core::WorkerStateName(u.expected_status));
  if (t.to_state.empty()) t.to_state = std::string(core::WorkerStateName(u.worker.status));
  if (t.timestamp == 0) t.timestamp = u.worker.updated_at;
  return t;
}

namespace {

// What `changes` adds at (workspace_id, depth): the worker slots of its new allocations.
int64_t SlotsRequested(const ChangeSet& changes, const std::string& workspace_id, int depth) {
  int64_t n = 0;
  for (const core::Allocation& a : changes.new_allocations) {
    if (a.workspace_id == workspace_id && a.depth == depth) n += a.worker_count;
  }
  return n;
}

// The kQuotaExceeded of a SlotLimit that `held` slots (after this ChangeSet) break.
Error SlotLimitExceeded(const SlotLimit& limit, int64_t held, int64_t requested) {
  Error e = MakeError(ErrorCode::kQuotaExceeded, "not enough free worker slots at depth " +
                                                     std::to_string(limit.depth) +
                                                     " (held by this and other writers)");
  e.With("depth", limit.depth)
      .With("quota", limit.max_workers)
      .With("used", held - requested)
      .With("requested", requested);
  return e;
}

// Applies `write` to every item of `items`; the first error wins.
template <typename T, typename Fn>
Status Each(const std::vector<T>& items, Fn write) {
  for (const T& item : items) {
    if (Status st = write(item); !st) return st;
  }
  return OkStatus();
}

}  // namespace

Status WriteChangeSet(const ChangeSet& changes, RowWriter& w) {
  if (Status st = w.CheckPreconditions(changes.require_jobs); !st) return st;
  // New jobs, each with the leading run of its updates whose expected status matches.
  std::vector<bool> folded_jobs(changes.job_updates.size());
  for (const core::Job& job : changes.new_jobs) {
    core::Job row = job;
    for (size_t i = 0; i < changes.job_updates.size(); ++i) {
      const JobUpdate& u = changes.job_updates[i];
      if (u.job.id != job.id || u.job.workspace_id != job.workspace_id) continue;
      if (u.expected_status != row.status) break;
      row = WithMutableColumns(row, u.job);
      folded_jobs[i] = true;
    }
    if (Status st = w.InsertJob(row); !st) return st;
  }
  // New workers likewise, with their creation transition and one per folded update.
  std::vector<bool> folded_workers(changes.worker_updates.size());
  std::vector<core::Transition> transitions;
  for (const core::Worker& worker : changes.new_workers) {
    core::Worker row = worker;
    transitions.clear();
    core::Transition created;
    created.to_state = std::string(core::WorkerStateName(worker.status));
    created.reason = worker.status_reason.empty() ? "CREATED" : worker.status_reason;
    created.timestamp = worker.created_at;
    transitions.push_back(std::move(created));
    for (size_t i = 0; i < changes.worker_updates.size(); ++i) {
      const WorkerUpdate& u = changes.worker_updates[i];
      if (u.worker.id != worker.id || u.worker.workspace_id != worker.workspace_id) continue;
      if (u.expected_status != row.status) break;
      row = WithMutableColumns(row, u.worker);
      transitions.push_back(TransitionOf(u));
      folded_workers[i] = true;
    }
    if (Status st = w.InsertWorker(row, transitions); !st) return st;
  }
  for (size_t i = 0; i < changes.worker_updates.size(); ++i) {
    if (folded_workers[i]) continue;
    if (Status st = w.UpdateWorker(changes.worker_updates[i]); !st) return st;
  }
  for (size_t i = 0; i < changes.job_updates.size(); ++i) {
    if (folded_jobs[i]) continue;
    if (Status st = w.UpdateJob(changes.job_updates[i]); !st) return st;
  }
  Status st = Each(changes.job_halts, [&](const JobHaltChange& c) { return w.SetJobHalt(c); });
  if (st) {
    st = Each(changes.workspace_halts,
              [&](const WorkspaceHaltChange& c) { return w.SetWorkspaceHalt(c); });
  }
  if (st)
    st = Each(changes.job_budgets, [&](const JobBudgetChange& c) { return w.SetJobBudget(c); });
  if (st) st = Each(changes.job_usages, [&](const JobUsageChange& c) { return w.SetJobUsage(c); });
  if (st) {
    st = Each(changes.new_allocations,
              [&](const core::Allocation& a) { return w.InsertAllocation(a); });
  }
  if (st) {
    st = Each(changes.released_allocations,
              [&](const AllocationRelease& r) { return w.ReleaseAllocation(r); });
  }
  if (st) st = Each(changes.quotas, [&](const core::Quota& q) { return w.UpsertQuota(q); });
  if (st) st = Each(changes.events, [&](const core::Event& e) { return w.InsertEvent(e); });
  if (st) {
    st = Each(changes.worker_processes,
              [&](const WorkerProcess& p) { return w.SetWorkerProcess(p); });
  }
  if (!st) return st;
  for (const SlotLimit& limit : changes.slot_limits) {
    Result<int64_t> held = w.HeldSlots(limit);
    if (!held) return std::move(held).error();
    if (*held > limit.max_workers) {
      return SlotLimitExceeded(limit, *held,
                               SlotsRequested(changes, limit.workspace_id, limit.depth));
    }
  }
  return OkStatus();
}

}  // namespace overseer::store
