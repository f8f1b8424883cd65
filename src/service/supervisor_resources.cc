// Supervisor: worker slots — quotas per workspace and depth, the allocation each running
// worker holds, and the FIFO queue of jobs waiting for slots.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>

#include "common/ids.h"
#include "core/events.h"
#include "service/supervisor.h"
#include "service/supervisor_internal.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::JobState;
using core::WorkerState;

core::Allocation Supervisor::NewAllocation(const LiveJob& job, const std::string& worker_id,
                                           TimeMs now) const {
  core::Allocation a;
  a.id = NewId("a_");
  a.workspace_id = job.rec.workspace_id;
  a.job_id = job.rec.id;
  a.worker_id = worker_id;
  a.depth = job.rec.depth;
  a.worker_count = 1;
  a.allocated_at = now;
  return a;
}

int Supervisor::SlotsNeeded(const LiveJob& job) {
  int n = 0;
  for (const WorkerPtr& w : job.workers) {
    if (w->rec.status == WorkerState::kIdle && w->allocation_id.empty()) ++n;
  }
  return n;
}

Error Supervisor::QuotaExceeded(const std::string& ws, int depth, int requested,
                                std::string message) const {
  Error e = MakeError(ErrorCode::kQuotaExceeded, std::move(message));
  e.With("depth", depth)
      .With("quota", quotas_.Limit(ws, depth))
      .With("used", quotas_.Used(ws, depth))
      .With("requested", requested);
  return e;
}

bool Supervisor::NeedsSlot(const LiveWorker& w) {
  return w.allocation_id.empty() && w.job != nullptr;
}

void Supervisor::TakeSlotFor(LiveWorker& w) {
  quotas_.Take(w.rec.workspace_id, w.job->rec.depth, 1);
  w.new_allocation = NewAllocation(*w.job, w.rec.id, clock_.NowMs());
}

void Supervisor::ReturnUnusedSlot(LiveWorker& w) {
  if (!w.new_allocation || !w.job) return;
  w.new_allocation.reset();
  ReleaseSlots(w.rec.workspace_id, w.job->rec.depth, 1);
}

void Supervisor::ReleaseSlots(const std::string& ws, int depth, int n) {
  quotas_.Give(ws, depth, n);
  ScheduleQueued(ws, depth);
}

void Supervisor::ScheduleQueued(const std::string& ws, int depth) {
  auto it = queued_.find({ws, depth});
  if (it == queued_.end() || shutting_down_) return;
  std::deque<std::shared_ptr<LiveJob>>& q = it->second;
  // Strict FIFO: a big job at the head is not overtaken by smaller ones behind it.
  while (!q.empty()) {
    std::shared_ptr<LiveJob> job = q.front();
    if (core::IsTerminalJobState(job->rec.status)) {
      q.pop_front();
      continue;
    }
    const int slots = SlotsNeeded(*job);
    if (!quotas_.Fits(ws, depth, slots)) break;
    q.pop_front();
    quotas_.Take(ws, depth, slots);
    tasks_.Spawn(internal::Discard(StartQueued(job, slots)), "start queued job");
  }
  if (q.empty()) queued_.erase(it);
}

asio::awaitable<void> Supervisor::StartQueued(std::shared_ptr<LiveJob> job, int slots) {
  const std::string ws = job->rec.workspace_id;
  const int depth = job->rec.depth;
  // Our own references: a job that ends meanwhile may be forgotten (its list cleared) while
  // these locks are held.
  const std::vector<WorkerPtr> workers = job->workers;
  std::vector<ScopedLock> locks;
  locks.reserve(workers.size() + 1);
  for (const WorkerPtr& w : workers) locks.push_back(co_await ScopedLock::Acquire(w->mu));
  // The job's mu is held from the check below through the commit of the start: a cancel
  // cannot slip in between, and nothing is spawned for a job that has ended.
  locks.push_back(co_await ScopedLock::Acquire(job->mu));
  std::vector<WorkerPtr> to_start;
  for (const WorkerPtr& w : workers) {
    if (w->rec.status == WorkerState::kIdle && w->allocation_id.empty()) to_start.push_back(w);
  }
  if (core::IsTerminalJobState(job->rec.status) || static_cast<int>(to_start.size()) != slots) {
    locks.clear();
    ReleaseSlots(ws, depth, slots);  // canceled (or changed) while it waited
    co_return;
  }
  store::ChangeSet cs;
  Result<std::vector<WorkerPtr>> not_started = co_await StartWorkersHeld(job, to_start, cs);
  locks.clear();
  if (!not_started) {
    spdlog::error("job {}: could not record its start: {}", job->rec.id,
                  not_started.error().message);
    co_return;
  }
  // The job left PENDING (its row is in the same commit as the workers' start).
  for (const WorkerPtr& w : *not_started) {
    auto lock = co_await ScopedLock::Acquire(w->mu);
    Status s = co_await Fail(w, "SPAWN_FAILED", std::nullopt);
    if (!s) spdlog::error("worker {}: {}", w->rec.id, s.error().message);
  }
}

asio::awaitable<Result<core::Allocation>> Supervisor::Allocate(Caller caller, std::string job_id,
                                                               int depth, int worker_count) {
  if (shutting_down_) co_return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second->rec.workspace_id != caller.workspace_id) {
    Result<core::Job> j =
        co_await RunBlocking(pool_, [&] { return store_.GetJob(caller.workspace_id, job_id); });
    if (!j) {
      if (j.error().code != ErrorCode::kNotFound) co_return j.error();
      Error e = MakeError(ErrorCode::kInvalidRequest, "job_id: no such job");
      e.With("field", "job_id");
      co_return e;
    }
    Error e = MakeError(ErrorCode::kInvalidStateTransition,
                        "job is " + std::string(core::JobStateName(j->status)) +
                            ": slots can be allocated only for a PENDING or RUNNING job");
    e.With("job_id", job_id).With("current_state", std::string(core::JobStateName(j->status)));
    co_return e;
  }
  if (depth < 0 || depth > quotas_.max_depth()) {
    Error e = MakeError(ErrorCode::kInvalidRequest,
                        "depth must be 0.." + std::to_string(quotas_.max_depth()));
    e.With("field", "depth").With("max_depth", quotas_.max_depth());
    co_return e;
  }
  std::shared_ptr<LiveJob> job = it->second;
  if (!co_await CallerReaches(caller, job_id)) {
    Error e = MakeError(ErrorCode::kInsufficientScope,
                        "a worker token may allocate slots only for its own job and the jobs "
                        "below it");
    e.With("field", "job_id");
    co_return e;
  }
  // Under the job's mu from the check through the commit: the job's end (which releases its
  // API allocations) comes either before (409) or after this allocation is held.
  auto job_lock = co_await ScopedLock::Acquire(job->mu);
  if (core::IsTerminalJobState(job->rec.status)) {
    const std::string state(core::JobStateName(job->rec.status));
    Error e =
        MakeError(ErrorCode::kInvalidStateTransition,
                  "job is " + state + ": slots can be allocated only for a PENDING or RUNNING job");
    e.With("job_id", job_id).With("current_state", state);
    co_return e;
  }
  const std::string& ws = caller.workspace_id;
  if (!quotas_.Fits(ws, depth, worker_count)) {
    co_return QuotaExceeded(
        ws, depth, worker_count,
        "not enough free worker slots at depth " + std::to_string(depth) + " (all or nothing)");
  }
  quotas_.Take(ws, depth, worker_count);
  core::Allocation a = NewAllocation(*job, "", clock_.NowMs());
  a.depth = depth;
  a.worker_count = worker_count;
  store::ChangeSet cs;
  cs.new_allocations.push_back(a);
  cs.events.push_back(
      core::AllocationEvent(core::EventType::kAllocationCreated, a, a.allocated_at));
  Status st = co_await commits_.Commit(cs);
  if (!st) {
    ReleaseSlots(ws, depth, worker_count);
    co_return st.error();
  }
  api_allocations_[a.id] = a;
  bus_.Publish(cs.events);
  co_return a;
}

asio::awaitable<Result<std::vector<core::Allocation>>> Supervisor::Release(
    Caller caller, std::string allocation_id, std::string job_id) {
  std::vector<std::string> ids;
  if (!allocation_id.empty()) {
    auto it = api_allocations_.find(allocation_id);
    if (it == api_allocations_.end() || it->second.workspace_id != caller.workspace_id) {
      for (const auto& [wid, w] : workers_) {
        if (w->allocation_id == allocation_id && w->rec.workspace_id == caller.workspace_id) {
          Error e = MakeError(ErrorCode::kInvalidStateTransition,
                              "this allocation is held by a running worker: pause or terminate "
                              "the worker to give its slot back");
          e.With("allocation_id", allocation_id).With("worker_id", wid);
          co_return e;
        }
      }
      Error e = MakeError(ErrorCode::kNotFound, "no held allocation with this id");
      e.With("id", allocation_id.substr(0, 64));
      co_return e;
    }
    if (!co_await CallerReaches(caller, it->second.job_id)) {
      Error e = MakeError(ErrorCode::kInsufficientScope,
                          "a worker token may release only the slots of its own job and the "
                          "jobs below it");
      e.With("allocation_id", allocation_id);
      co_return e;
    }
    ids.push_back(allocation_id);
  } else {
    // Another workspace's job, like a missing one, is a 404 (SPEC §1); a job of the caller's
    // own with nothing held answers an empty list.
    auto live = jobs_.find(job_id);
    if (live == jobs_.end() || live->second->rec.workspace_id != caller.workspace_id) {
      Result<core::Job> j =
          co_await RunBlocking(pool_, [&] { return store_.GetJob(caller.workspace_id, job_id); });
      if (!j) {
        if (j.error().code != ErrorCode::kNotFound) co_return j.error();
        Error e = MakeError(ErrorCode::kNotFound, "no such job");
        e.With("id", job_id);
        co_return e;
      }
    }
    if (!co_await CallerReaches(caller, job_id)) {
      Error e = MakeError(ErrorCode::kInsufficientScope,
                          "a worker token may release only the slots of its own job and the "
                          "jobs below it");
      e.With("field", "job_id");
      co_return e;
    }
    for (const auto& [id, a] : api_allocations_) {
      if (a.job_id == job_id && a.workspace_id == caller.workspace_id) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
  }
  co_return co_await ReleaseApiAllocations(std::move(ids));
}

asio::awaitable<Result<std::vector<core::Allocation>>> Supervisor::ReleaseApiAllocations(
    std::vector<std::string> ids) {
  std::vector<core::Allocation> released;
  store::ChangeSet cs;
  const TimeMs now = clock_.NowMs();
  for (const std::string& id : ids) {
    auto it = api_allocations_.find(id);
    if (it == api_allocations_.end()) continue;
    released.push_back(it->second);
    released.back().released_at = now;
    cs.released_allocations.push_back(store::AllocationRelease{id, it->second.workspace_id, now});
    cs.events.push_back(
        core::AllocationEvent(core::EventType::kAllocationReleased, released.back(), now));
  }
  if (released.empty()) co_return released;
  // Memory follows the commit. Two releases of the same id racing: the store releases it once
  // and the other commit fails (kNotFound: not held), so the slots are given back once.
  Status st = co_await commits_.Commit(cs);
  if (!st) co_return st.error();
  for (const core::Allocation& a : released) {
    if (api_allocations_.erase(a.id) != 0) ReleaseSlots(a.workspace_id, a.depth, a.worker_count);
  }
  bus_.Publish(cs.events);
  co_return released;
}

asio::awaitable<Result<JobState>> Supervisor::JobStatusOf(std::string ws, std::string id) {
  auto live = jobs_.find(id);
  if (live != jobs_.end() && live->second->rec.workspace_id == ws)
    co_return live->second->rec.status;
  Result<core::Job> j =
      co_await RunBlocking(pool_, [this, &ws, &id] { return store_.GetJob(ws, id); });
  if (!j) co_return j.error();
  co_return j->status;
}

void Supervisor::Enqueue(const std::shared_ptr<LiveJob>& job) {
  queued_[{job->rec.workspace_id, job->rec.depth}].push_back(job);
  ScheduleQueued(job->rec.workspace_id, job->rec.depth);
}

void Supervisor::AfterDependencyEnded(const core::Job& dep) {
  auto it = dependents_.find(dep.id);
  if (it == dependents_.end()) return;
  std::vector<std::shared_ptr<LiveJob>> waiting = std::move(it->second);
  dependents_.erase(it);
  std::vector<std::shared_ptr<LiveJob>> to_cancel;
  for (const auto& job : waiting) {
    if (core::IsTerminalJobState(job->rec.status)) continue;
    if (dep.status == JobState::kCompleted) {
      std::erase(job->waiting_on, dep.id);
      if (job->waiting_on.empty()) Enqueue(job);
    } else {
      to_cancel.push_back(job);  // SPEC §2: PENDING -> CANCELED (DEPENDENCY_FAILED)
    }
  }
  if (!to_cancel.empty()) {
    tasks_.Spawn(internal::Discard(CancelCascade(std::move(to_cancel), "DEPENDENCY_FAILED")),
                 "cancel dependents");
  }
}

QuotasView Supervisor::GetQuotas(const Caller& caller) const {
  QuotasView v;
  v.max_depth = quotas_.max_depth();
  for (int d = 0; d <= v.max_depth; ++d) {
    v.quotas.push_back(
        QuotaView{d, quotas_.Limit(caller.workspace_id, d), quotas_.Used(caller.workspace_id, d)});
  }
  return v;
}

asio::awaitable<Result<QuotasView>> Supervisor::SetQuotas(Caller caller,
                                                          std::vector<std::pair<int, int>> limits) {
  std::vector<core::Quota> rows;
  const TimeMs now = clock_.NowMs();
  for (const auto& [depth, max_workers] : limits) {
    if (depth < 0 || depth > quotas_.max_depth()) {
      Error e = MakeError(ErrorCode::kInvalidRequest,
                          "quotas: depth must be 0.." + std::to_string(quotas_.max_depth()));
      e.With("field", "quotas").With("depth", depth).With("max_depth", quotas_.max_depth());
      co_return e;
    }
    rows.push_back(core::Quota{caller.workspace_id, depth, max_workers, now});
  }
  Status st = co_await RunBlocking(pool_, [&] { return store_.SetQuotas(rows); });
  if (!st) co_return st.error();
  for (const core::Quota& q : rows) quotas_.SetLimit(q.workspace_id, q.depth, q.max_workers);
  for (const core::Quota& q : rows) ScheduleQueued(q.workspace_id, q.depth);
  co_return GetQuotas(caller);
}

}  // namespace overseer::service
