// JobOperations: waiting for a job, cancel cascades, a parent completing once its last
// active child has ended, and the follow-up of every job change.
#include <spdlog/spdlog.h>

#include <map>
#include <unordered_set>

#include "core/events.h"
#include "service/access.h"
#include "service/allocations.h"
#include "service/coroutines.h"
#include "service/dependencies.h"
#include "service/job_operations.h"
#include "service/scheduler.h"
#include "service/worker_runner.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::JobState;
using core::JobTransitionError;
using core::WorkerState;

void JobOperations::AfterJobChange(const JobPtr& job) {
  if (!core::IsTerminalJobState(job->rec.status)) return;
  // A queued job that ended (canceled) no longer holds up the jobs behind it.
  scheduler_.ScheduleQueued(job->rec.workspace_id, job->rec.depth);
  deps_.AfterDependencyEnded(job->rec);
  // Slots allocated for it through the API are given back with it.
  allocations_.AfterJobEnded(job->rec);
  // A job canceled by its own worker's end (an IDLE worker of a PENDING job terminated) is
  // cleaned up like a failed one; a cancel request ends its workers and children itself.
  if (job->rec.status == JobState::kFailed ||
      (job->rec.status == JobState::kCanceled && job->rec.status_reason == "WORKER_TERMINATED")) {
    // A failed job's remaining workers are ended (as Kubernetes does with a failed Job), and
    // the sub-jobs it started are canceled: nothing is left to collect their work. (A
    // CANCELED job's workers and children are ended by the cancel itself.)
    for (const WorkerPtr& sibling : job->workers) {
      if (core::IsActiveWorkerState(sibling->rec.status)) {
        ctx_.tasks.Spawn(
            internal::Discard(runner_.Terminate(sibling, ctx_.options.timeout_grace, "JOB_FAILED")),
            "terminate");
      }
    }
    if (!job->children.empty()) {
      ctx_.tasks.Spawn(internal::Discard(CancelCascade(std::move(job->children), "PARENT_FAILED")),
                       "cancel children");
    }
  }
  job->children.clear();
  if (JobPtr parent = job->parent.lock()) {
    std::erase(parent->children, job);
    job->parent.reset();
    if (parent->children.empty() && !core::IsTerminalJobState(parent->rec.status)) {
      ctx_.tasks.Spawn(internal::Discard(CompleteIfDone(parent)), "complete parent");
    }
  }
  ctx_.Forget(job);
}

asio::awaitable<Result<core::Job>> JobOperations::WaitJob(Caller caller, std::string id,
                                                          std::chrono::milliseconds timeout) {
  auto it = ctx_.jobs.find(id);
  if (it != ctx_.jobs.end() && it->second->rec.workspace_id == caller.workspace_id &&
      !core::IsTerminalJobState(it->second->rec.status) && timeout.count() > 0 &&
      !ctx_.shutting_down) {
    JobPtr job = it->second;
    auto timer = std::make_shared<asio::steady_timer>(ctx_.io, timeout);
    // Woken by the job's move to a terminal state (published once memory says so), or by
    // the shutdown.
    EventBus::Subscription sub = ctx_.bus.Subscribe(
        [timer, id](const core::Event& e) {
          if (e.type != core::EventType::kJobTransition || e.job_id != id) return;
          std::optional<JobState> to = core::ParseJobState(e.to_state);
          if (to && core::IsTerminalJobState(*to)) timer->cancel();
        },
        [timer] { timer->cancel(); });
    (void)co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    co_return job->rec;
  }
  co_return co_await RunBlocking(ctx_.pool,
                                 [&] { return ctx_.store.GetJob(caller.workspace_id, id); });
}

asio::awaitable<Result<core::Job>> JobOperations::CancelJob(Caller caller, std::string id,
                                                            std::chrono::milliseconds grace,
                                                            bool wait) {
  if (ctx_.shutting_down)
    co_return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
  auto it = ctx_.jobs.find(id);
  if (it == ctx_.jobs.end() || it->second->rec.workspace_id != caller.workspace_id) {
    // Not active here: a terminal job (409) or no such job in this workspace (404).
    Result<core::Job> j =
        co_await RunBlocking(ctx_.pool, [&] { return ctx_.store.GetJob(caller.workspace_id, id); });
    if (!j) co_return j.error();
    co_return JobTransitionError(*j, JobState::kCanceled);
  }
  JobPtr job = it->second;
  bool allowed = true;
  if (!caller.job_id.empty()) {
    std::string ws = caller.workspace_id;
    std::string ancestor = caller.job_id;
    std::string target = job->rec.id;
    allowed = co_await access_.WithinSubtree(std::move(ws), std::move(ancestor), std::move(target));
  }
  if (!allowed) {
    Error e = MakeError(ErrorCode::kInsufficientScope,
                        "a worker token may cancel only its own job and the jobs below it");
    e.With("job_id", id);
    co_return e;
  }
  std::vector<JobPtr> roots{job};
  std::string reason = "CANCEL_REQUESTED";
  Result<std::vector<WorkerPtr>> workers = co_await CancelJobs(std::move(roots), std::move(reason));
  if (!workers) {
    // Already terminal, or changed meanwhile by someone else (a conflict): the 409 of the job
    // asked for, as it is now.
    if (workers.error().code == ErrorCode::kInvalidStateTransition ||
        workers.error().code == ErrorCode::kConflict) {
      co_return JobTransitionError(job->rec, JobState::kCanceled);
    }
    co_return workers.error();
  }
  std::string end_reason = "JOB_CANCELED";
  if (wait) {
    co_await runner_.TerminateAll(std::move(*workers), grace, std::move(end_reason));
  } else {
    ctx_.tasks.Spawn(
        internal::Discard(runner_.TerminateAll(std::move(*workers), grace, std::move(end_reason))),
        "cancel");
  }
  co_return job->rec;
}

asio::awaitable<Result<std::vector<WorkerPtr>>> JobOperations::CancelJobs(std::vector<JobPtr> roots,
                                                                          std::string reason) {
  // Locks are taken in (depth, id) order, each job's children read only once the job is
  // locked: a child is linked to its parent only under the parent's mu (CreateJob), so none
  // is missed, and two cascades over overlapping trees lock in the same order.
  std::vector<JobPtr> order;
  std::map<std::pair<int, std::string>, JobPtr> next;
  for (const auto& r : roots) next.emplace(std::make_pair(r->rec.depth, r->rec.id), r);
  std::vector<ScopedLock> locks;
  while (!next.empty()) {
    JobPtr j = next.begin()->second;
    next.erase(next.begin());
    locks.push_back(co_await ScopedLock::Acquire(j->mu));
    order.push_back(j);
    for (const auto& c : j->children) next.emplace(std::make_pair(c->rec.depth, c->rec.id), c);
  }
  std::unordered_set<const LiveJob*> root_set;
  for (const auto& r : roots) root_set.insert(r.get());

  const TimeMs now = ctx_.clock.NowMs();
  store::ChangeSet cs;
  std::vector<std::pair<JobPtr, core::Job>> changed;
  bool any_root = false;
  for (const auto& j : order) {
    if (core::IsTerminalJobState(j->rec.status)) continue;
    const bool is_root = root_set.count(j.get()) != 0;
    any_root = any_root || is_root;
    Result<core::JobChange> c = core::PlanJobTransition(
        j->rec, JobState::kCanceled, is_root ? reason : "PARENT_CANCELED", JobRows(*j), now);
    if (!c) co_return c.error();
    cs.job_updates.push_back(store::JobUpdate{c->row, c->from});
    cs.events.push_back(core::JobTransitionEvent(c->row, core::JobStateName(c->from), now));
    changed.emplace_back(j, std::move(c->row));
  }
  if (!any_root) {
    co_return MakeError(ErrorCode::kInvalidStateTransition, "already terminal");
  }
  Status st = co_await ctx_.commits.Commit(cs);
  if (!st) co_return st.error();
  std::vector<WorkerPtr> to_end;
  for (auto& [j, row] : changed) {
    j->rec = std::move(row);
    for (const WorkerPtr& w : j->workers) {
      if (core::IsActiveWorkerState(w->rec.status)) to_end.push_back(w);
    }
  }
  ctx_.bus.Publish(cs.events);
  locks.clear();
  // Deepest first: each job leaves its parent's active children before the parent is seen.
  for (auto it = changed.rbegin(); it != changed.rend(); ++it) AfterJobChange(it->first);
  co_return to_end;
}

asio::awaitable<void> JobOperations::CancelCascade(std::vector<JobPtr> roots, std::string reason,
                                                   std::string worker_reason,
                                                   std::optional<std::chrono::milliseconds> grace) {
  Result<std::vector<WorkerPtr>> workers = co_await CancelJobs(std::move(roots), std::move(reason));
  if (!workers) co_return;  // already terminal, or the commit failed (logged)
  co_await runner_.TerminateAll(std::move(*workers), grace.value_or(ctx_.options.timeout_grace),
                                std::move(worker_reason));
}

asio::awaitable<void> JobOperations::CompleteIfDone(JobPtr job) {
  auto lock = co_await ScopedLock::Acquire(job->mu);
  if (core::IsTerminalJobState(job->rec.status) || !job->children.empty()) co_return;
  std::vector<WorkerState> states;
  states.reserve(job->workers.size());
  for (const WorkerPtr& w : job->workers) states.push_back(w->rec.status);
  std::optional<JobState> js = core::JobStatusFromWorkers(job->rec.status, states, false);
  if (js != JobState::kCompleted) co_return;  // failures were decided by the worker's change
  const TimeMs now = ctx_.clock.NowMs();
  Result<core::JobChange> c =
      core::PlanJobTransition(job->rec, JobState::kCompleted, "CHILDREN_ENDED", JobRows(*job), now);
  if (!c) co_return;
  core::Job row = std::move(c->row);
  store::ChangeSet cs;
  cs.job_updates.push_back(store::JobUpdate{row, c->from});
  cs.events.push_back(core::JobTransitionEvent(row, core::JobStateName(c->from), now));
  Status st = co_await ctx_.commits.Commit(cs);
  if (!st) {
    spdlog::error("job {}: completing after its children failed: {}", row.id, st.error().message);
    co_return;
  }
  job->rec = std::move(row);
  ctx_.bus.Publish(cs.events);
  lock.Release();
  AfterJobChange(job);
}
}  // namespace overseer::service
