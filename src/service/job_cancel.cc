// JobOperations: cancels — a job canceled through the API and the cascades that follow a failure,
// a failed dependency or a halt. The jobs held here are canceled under their locks; the ones the
// closure table lists that no one here holds (another writer's rows) by compare-and-set.
#include <spdlog/spdlog.h>

#include <map>
#include <optional>
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

asio::awaitable<Result<core::Job>> JobOperations::CancelJob(Caller caller, std::string id,
                                                            std::chrono::milliseconds grace,
                                                            bool wait) {
  if (ctx_.shutting_down)
    co_return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
  JobPtr job = ctx_.FindJob(caller.workspace_id, id);
  std::vector<core::Job> stored;  // the job's row when no one here holds it
  if (!job) {
    // Not active here: a terminal job (409), no such job in this workspace (404), or an
    // active job another writer holds (canceled through its row).
    Result<core::Job> j =
        co_await RunBlocking(ctx_.pool, [&] { return ctx_.store.GetJob(caller.workspace_id, id); });
    if (!j) co_return j.error();
    if (core::IsTerminalJobState(j->status)) co_return JobTransitionError(*j, JobState::kCanceled);
    stored.push_back(std::move(*j));
  }
  bool allowed = true;
  if (!caller.job_id.empty()) {
    std::string ws = caller.workspace_id;
    std::string ancestor = caller.job_id;
    std::string target = id;
    allowed = co_await access_.WithinSubtree(std::move(ws), std::move(ancestor), std::move(target));
  }
  if (!allowed) {
    Error e = MakeError(ErrorCode::kInsufficientScope,
                        "a worker token may cancel only its own job and the jobs below it");
    e.With("job_id", id);
    co_return e;
  }
  std::vector<JobPtr> roots;
  if (job) roots.push_back(job);
  std::string reason = "CANCEL_REQUESTED";
  Result<std::vector<WorkerPtr>> workers =
      co_await CancelJobs(std::move(roots), std::move(reason), stored, /*answer_in_outage=*/true);
  if (!workers) {
    // Already terminal, or changed meanwhile by someone else (a conflict): the 409 of the job
    // asked for, as it is now.
    if (workers.error().code == ErrorCode::kInvalidStateTransition ||
        workers.error().code == ErrorCode::kConflict) {
      if (job) co_return JobTransitionError(job->rec, JobState::kCanceled);
      Result<core::Job> now = co_await RunBlocking(
          ctx_.pool, [&] { return ctx_.store.GetJob(caller.workspace_id, id); });
      if (!now) co_return now.error();
      co_return JobTransitionError(*now, JobState::kCanceled);
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
  if (job) co_return job->rec;
  co_return co_await RunBlocking(ctx_.pool,
                                 [&] { return ctx_.store.GetJob(caller.workspace_id, id); });
}

asio::awaitable<Result<std::vector<core::Job>>> JobOperations::ActiveBelow(
    const std::vector<JobPtr>& roots, const std::vector<core::Job>& stored_roots) {
  // One pool hop; a root already below an earlier (shallower) one is covered by its lookup.
  std::vector<std::pair<std::string, std::string>> asked;  // (workspace, id) by (depth, id)
  {
    std::map<std::pair<int, std::string>, std::pair<std::string, std::string>> by_depth;
    for (const JobPtr& r : roots) {
      by_depth.emplace(std::make_pair(r->rec.depth, r->rec.id),
                       std::make_pair(r->rec.workspace_id, r->rec.id));
    }
    for (const core::Job& r : stored_roots) {
      by_depth.emplace(std::make_pair(r.depth, r.id), std::make_pair(r.workspace_id, r.id));
    }
    for (auto& [key, root] : by_depth) asked.push_back(std::move(root));
  }
  co_return co_await RunBlocking(ctx_.pool, [this, &asked]() -> Result<std::vector<core::Job>> {
    std::vector<core::Job> rows;
    std::unordered_set<std::string> seen;
    for (const auto& [ws, id] : asked) {
      if (seen.contains(id)) continue;
      Result<std::vector<core::Job>> below =
          ctx_.store.ListActiveDescendants(ws, id, kMaxCascadeJobs);
      if (!below) return below.error();
      if (static_cast<int>(below->size()) == kMaxCascadeJobs) {
        spdlog::warn("job {}: over {} active descendants; a cancel reaches the first {}", id,
                     kMaxCascadeJobs, kMaxCascadeJobs);
      }
      for (core::Job& row : *below) {
        if (seen.insert(row.id).second) rows.push_back(std::move(row));
      }
    }
    return rows;
  });
}

asio::awaitable<Result<std::vector<WorkerPtr>>> JobOperations::CancelJobs(
    std::vector<JobPtr> roots, std::string reason, std::vector<core::Job> stored_roots,
    bool answer_in_outage) {
  // Rows not held here are compare-and-set against what was read: another writer changing one
  // meanwhile fails the commit (kConflict), and the cancel reads them again, once.
  for (int attempt = 1;; ++attempt) {
    if (attempt > 1 && !stored_roots.empty()) {
      Result<std::vector<core::Job>> again = co_await RunBlocking(
          ctx_.pool, [this, &stored_roots]() -> Result<std::vector<core::Job>> {
            std::vector<core::Job> out;
            for (const core::Job& row : stored_roots) {
              Result<core::Job> j = ctx_.store.GetJob(row.workspace_id, row.id);
              if (!j) return j.error();
              out.push_back(std::move(*j));
            }
            return out;
          });
      if (!again) co_return again.error();
      stored_roots = std::move(*again);
    }
    Result<std::vector<WorkerPtr>> r =
        co_await CancelJobsOnce(roots, reason, stored_roots, answer_in_outage);
    if (r || r.error().code != ErrorCode::kConflict || attempt == 2) co_return r;
  }
}

asio::awaitable<Result<std::vector<WorkerPtr>>> JobOperations::CancelJobsOnce(
    const std::vector<JobPtr>& roots, const std::string& reason,
    const std::vector<core::Job>& stored_roots, bool answer_in_outage) {
  // The jobs to cancel that this daemon does not hold (another writer's, SPEC §8: the cascade
  // must not depend on one daemon's memory): the stored roots and every active descendant the
  // closure table lists. Read first, outside the locks.
  Result<std::vector<core::Job>> below = co_await ActiveBelow(roots, stored_roots);
  if (!below) {
    // The database cannot answer: the jobs held here are canceled all the same.
    spdlog::warn("cancel: reading the active descendants: {} (only the jobs held here follow)",
                 below.error().message);
    below = std::vector<core::Job>{};
  }

  // Locks are taken in (depth, id) order, each job's children read only once the job is
  // locked: a child is linked to its parent only under the parent's mu (CreateJob), so none
  // is missed, and two cascades over overlapping trees lock in the same order. Jobs held here
  // that the closure table lists below a root are locked too (a job of this daemon under
  // another's).
  std::vector<JobPtr> order;
  std::map<std::pair<int, std::string>, JobPtr> next;
  for (const auto& r : roots) next.emplace(std::make_pair(r->rec.depth, r->rec.id), r);
  for (const core::Job& row : *below) {
    if (JobPtr live = ctx_.FindJob(row.workspace_id, row.id)) {
      next.emplace(std::make_pair(live->rec.depth, live->rec.id), live);
    }
  }
  std::vector<ScopedLock> locks;
  std::unordered_set<std::string> locked;
  while (!next.empty()) {
    JobPtr j = next.begin()->second;
    next.erase(next.begin());
    if (!locked.insert(j->rec.id).second) continue;
    for (;;) {
      std::optional<ScopedLock> lock = co_await ScopedLock::AcquireWithin(j->mu, kLockPatience);
      if (lock) {
        locks.push_back(std::move(*lock));
        break;
      }
      if (answer_in_outage && ctx_.commits.waiting_for_database() > 0) {
        Error e = MakeError(ErrorCode::kUnavailable,
                            "the database is unavailable (a worker's end waits to be written): "
                            "the cancel was not recorded; retry later");
        e.With("job_id", j->rec.id);
        co_return e;
      }
    }
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
  // The rows held by no one here: canceled from what was read (their processes, if another
  // daemon runs them, are that daemon's to end).
  std::vector<core::Job> stored_changed;
  auto cancel_stored = [&](const core::Job& row, const std::string& why) -> Status {
    if (core::IsTerminalJobState(row.status) || locked.contains(row.id) ||
        ctx_.FindJob(row.workspace_id, row.id)) {
      return {};
    }
    Result<core::JobChange> c = core::PlanJobTransition(row, JobState::kCanceled, why, {}, now);
    if (!c) return c.error();
    locked.insert(row.id);
    cs.job_updates.push_back(store::JobUpdate{c->row, c->from});
    cs.events.push_back(core::JobTransitionEvent(c->row, core::JobStateName(c->from), now));
    stored_changed.push_back(std::move(c->row));
    return {};
  };
  for (const core::Job& row : stored_roots) {
    const size_t before = stored_changed.size();
    if (Status st = cancel_stored(row, reason); !st) co_return st.error();
    any_root = any_root || stored_changed.size() != before;
  }
  for (const core::Job& row : *below) {
    if (Status st = cancel_stored(row, "PARENT_CANCELED"); !st) co_return st.error();
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
  // Jobs held here may wait for one of the others.
  for (const core::Job& row : stored_changed) deps_.AfterDependencyEnded(row);
  co_return to_end;
}

asio::awaitable<void> JobOperations::CancelCascade(std::vector<JobPtr> roots, std::string reason,
                                                   std::string worker_reason,
                                                   std::optional<std::chrono::milliseconds> grace,
                                                   std::vector<core::Job> stored_roots) {
  Result<std::vector<WorkerPtr>> workers =
      co_await CancelJobs(std::move(roots), std::move(reason), std::move(stored_roots));
  if (!workers) co_return;  // already terminal, or the commit failed (logged)
  co_await runner_.TerminateAll(std::move(*workers), grace.value_or(ctx_.options.timeout_grace),
                                std::move(worker_reason));
}
}  // namespace overseer::service
