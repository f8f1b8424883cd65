#include "service/allocations.h"

#include <algorithm>

#include "core/events.h"
#include "service/access.h"
#include "service/coroutines.h"
#include "service/scheduler.h"

namespace overseer::service {
namespace asio = boost::asio;

asio::awaitable<Result<core::Allocation>> Allocations::Allocate(Caller caller, std::string job_id,
                                                                int depth, int worker_count) {
  if (ctx_.shutting_down)
    co_return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
  auto it = ctx_.jobs.find(job_id);
  if (it == ctx_.jobs.end() || it->second->rec.workspace_id != caller.workspace_id) {
    Result<core::Job> j = co_await RunBlocking(
        ctx_.pool, [&] { return ctx_.store.GetJob(caller.workspace_id, job_id); });
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
  if (depth < 0 || depth > scheduler_.max_depth()) {
    Error e = MakeError(ErrorCode::kInvalidRequest,
                        "depth must be 0.." + std::to_string(scheduler_.max_depth()));
    e.With("field", "depth").With("max_depth", scheduler_.max_depth());
    co_return e;
  }
  JobPtr job = it->second;
  if (!co_await access_.CallerReaches(caller, job_id)) {
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
  Status slots = scheduler_.TakeSlots(
      ws, depth, worker_count,
      "not enough free worker slots at depth " + std::to_string(depth) + " (all or nothing)");
  if (!slots) co_return slots.error();
  core::Allocation a = NewAllocation(*job, "", ctx_.clock.NowMs());
  a.depth = depth;
  a.worker_count = worker_count;
  store::ChangeSet cs;
  cs.new_allocations.push_back(a);
  cs.slot_limits.push_back(scheduler_.SlotLimitOf(ws, depth));
  cs.events.push_back(
      core::AllocationEvent(core::EventType::kAllocationCreated, a, a.allocated_at));
  Status st = co_await ctx_.commits.Commit(cs);
  if (!st) {
    scheduler_.ReleaseSlots(ws, depth, worker_count);
    co_return st.error();
  }
  held_[a.id] = a;
  ctx_.bus.Publish(cs.events);
  co_return a;
}

asio::awaitable<Result<std::vector<core::Allocation>>> Allocations::Release(
    Caller caller, std::string allocation_id, std::string job_id) {
  std::vector<std::string> ids;
  if (!allocation_id.empty()) {
    auto it = held_.find(allocation_id);
    if (it == held_.end() || it->second.workspace_id != caller.workspace_id) {
      for (const auto& [wid, w] : ctx_.workers) {
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
    if (!co_await access_.CallerReaches(caller, it->second.job_id)) {
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
    auto live = ctx_.jobs.find(job_id);
    if (live == ctx_.jobs.end() || live->second->rec.workspace_id != caller.workspace_id) {
      Result<core::Job> j = co_await RunBlocking(
          ctx_.pool, [&] { return ctx_.store.GetJob(caller.workspace_id, job_id); });
      if (!j) {
        if (j.error().code != ErrorCode::kNotFound) co_return j.error();
        Error e = MakeError(ErrorCode::kNotFound, "no such job");
        e.With("id", job_id);
        co_return e;
      }
    }
    if (!co_await access_.CallerReaches(caller, job_id)) {
      Error e = MakeError(ErrorCode::kInsufficientScope,
                          "a worker token may release only the slots of its own job and the "
                          "jobs below it");
      e.With("field", "job_id");
      co_return e;
    }
    for (const auto& [id, a] : held_) {
      if (a.job_id == job_id && a.workspace_id == caller.workspace_id) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
  }
  co_return co_await ReleaseHeld(std::move(ids));
}

asio::awaitable<Result<std::vector<core::Allocation>>> Allocations::ReleaseHeld(
    std::vector<std::string> ids) {
  std::vector<core::Allocation> released;
  store::ChangeSet cs;
  const TimeMs now = ctx_.clock.NowMs();
  for (const std::string& id : ids) {
    auto it = held_.find(id);
    if (it == held_.end()) continue;
    released.push_back(it->second);
    released.back().released_at = now;
    cs.released_allocations.push_back(store::AllocationRelease{id, it->second.workspace_id, now});
    cs.events.push_back(
        core::AllocationEvent(core::EventType::kAllocationReleased, released.back(), now));
  }
  if (released.empty()) co_return released;
  // Memory follows the commit. Two releases of the same id racing: the store releases it once
  // and the other commit fails (kNotFound: not held), so the slots are given back once.
  Status st = co_await ctx_.commits.Commit(cs);
  if (!st) co_return st.error();
  for (const core::Allocation& a : released) {
    if (held_.erase(a.id) != 0) scheduler_.ReleaseSlots(a.workspace_id, a.depth, a.worker_count);
  }
  ctx_.bus.Publish(cs.events);
  co_return released;
}

void Allocations::AfterJobEnded(const core::Job& job) {
  std::vector<std::string> ids;
  for (const auto& [id, a] : held_) {
    if (a.job_id == job.id) ids.push_back(id);
  }
  if (ids.empty()) return;
  ctx_.tasks.Spawn(internal::Discard(ReleaseHeld(std::move(ids))), "release allocations");
}

void Allocations::Adopt(const core::Allocation& a) {
  held_[a.id] = a;
  scheduler_.Adopt(a.workspace_id, a.depth, a.worker_count);
}

}  // namespace overseer::service
