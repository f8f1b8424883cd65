// Supervisor: the job tree — reading it, waiting for a job, cancel cascades, and a parent
// completing once its last active child has ended.
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <map>
#include <unordered_set>

#include "core/events.h"
#include "service/supervisor.h"
#include "service/supervisor_internal.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::JobState;
using core::JobTransitionError;
using core::WorkerState;

asio::awaitable<Result<JobTreeView>> Supervisor::GetJobTree(Caller caller, std::string id) {
  Result<std::vector<core::Job>> rows = co_await RunBlocking(
      pool_, [&] { return store_.ListJobSubtree(caller.workspace_id, id, kMaxTreeJobs + 1); });
  if (!rows) co_return rows.error();
  JobTreeView view;
  view.jobs = std::move(*rows);
  if (view.jobs.size() > static_cast<size_t>(kMaxTreeJobs)) {
    view.jobs.resize(kMaxTreeJobs);
    view.truncated = true;
  }
  co_return view;
}

asio::awaitable<Result<core::Job>> Supervisor::WaitJob(Caller caller, std::string id,
                                                       std::chrono::milliseconds timeout) {
  auto it = jobs_.find(id);
  if (it != jobs_.end() && it->second->rec.workspace_id == caller.workspace_id &&
      !core::IsTerminalJobState(it->second->rec.status) && timeout.count() > 0 && !shutting_down_) {
    std::shared_ptr<LiveJob> job = it->second;
    auto timer = std::make_shared<asio::steady_timer>(io_, timeout);
    // Woken by the job's move to a terminal state (published once memory says so), or by
    // the shutdown.
    EventBus::Subscription sub = bus_.Subscribe(
        [timer, id](const core::Event& e) {
          if (e.type != core::EventType::kJobTransition || e.job_id != id) return;
          std::optional<JobState> to = core::ParseJobState(e.to_state);
          if (to && core::IsTerminalJobState(*to)) timer->cancel();
        },
        [timer] { timer->cancel(); });
    (void)co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    co_return job->rec;
  }
  co_return co_await RunBlocking(pool_, [&] { return store_.GetJob(caller.workspace_id, id); });
}

asio::awaitable<Result<core::Job>> Supervisor::CancelJob(Caller caller, std::string id,
                                                         std::chrono::milliseconds grace,
                                                         bool wait) {
  if (shutting_down_) co_return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second->rec.workspace_id != caller.workspace_id) {
    // Not active here: a terminal job (409) or no such job in this workspace (404).
    Result<core::Job> j =
        co_await RunBlocking(pool_, [&] { return store_.GetJob(caller.workspace_id, id); });
    if (!j) co_return j.error();
    co_return JobTransitionError(*j, JobState::kCanceled);
  }
  std::shared_ptr<LiveJob> job = it->second;
  bool allowed = true;
  if (!caller.job_id.empty()) {
    std::string ws = caller.workspace_id;
    std::string ancestor = caller.job_id;
    std::string target = job->rec.id;
    allowed = co_await WithinSubtree(std::move(ws), std::move(ancestor), std::move(target));
  }
  if (!allowed) {
    Error e = MakeError(ErrorCode::kInsufficientScope,
                        "a worker token may cancel only its own job and the jobs below it");
    e.With("job_id", id);
    co_return e;
  }
  std::vector<std::shared_ptr<LiveJob>> roots{job};
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
    co_await TerminateAll(std::move(*workers), grace, std::move(end_reason));
  } else {
    tasks_.Spawn(internal::Discard(TerminateAll(std::move(*workers), grace, std::move(end_reason))),
                 "cancel");
  }
  co_return job->rec;
}

asio::awaitable<Result<std::vector<Supervisor::WorkerPtr>>> Supervisor::CancelJobs(
    std::vector<std::shared_ptr<LiveJob>> roots, std::string reason) {
  // Locks are taken in (depth, id) order, each job's children read only once the job is
  // locked: a child is linked to its parent only under the parent's mu (CreateJob), so none
  // is missed, and two cascades over overlapping trees lock in the same order.
  std::vector<std::shared_ptr<LiveJob>> order;
  std::map<std::pair<int, std::string>, std::shared_ptr<LiveJob>> next;
  for (const auto& r : roots) next.emplace(std::make_pair(r->rec.depth, r->rec.id), r);
  std::vector<ScopedLock> locks;
  while (!next.empty()) {
    std::shared_ptr<LiveJob> j = next.begin()->second;
    next.erase(next.begin());
    locks.push_back(co_await ScopedLock::Acquire(j->mu));
    order.push_back(j);
    for (const auto& c : j->children) next.emplace(std::make_pair(c->rec.depth, c->rec.id), c);
  }
  std::unordered_set<const LiveJob*> root_set;
  for (const auto& r : roots) root_set.insert(r.get());

  const TimeMs now = clock_.NowMs();
  store::ChangeSet cs;
  std::vector<std::pair<std::shared_ptr<LiveJob>, core::Job>> changed;
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
  Status st = co_await commits_.Commit(cs);
  if (!st) co_return st.error();
  std::vector<WorkerPtr> to_end;
  for (auto& [j, row] : changed) {
    j->rec = std::move(row);
    for (const WorkerPtr& w : j->workers) {
      if (core::IsActiveWorkerState(w->rec.status)) to_end.push_back(w);
    }
  }
  bus_.Publish(cs.events);
  locks.clear();
  // Deepest first: each job leaves its parent's active children before the parent is seen.
  for (auto it = changed.rbegin(); it != changed.rend(); ++it) AfterJobChange(it->first);
  co_return to_end;
}

asio::awaitable<void> Supervisor::CancelCascade(std::vector<std::shared_ptr<LiveJob>> roots,
                                                std::string reason) {
  Result<std::vector<WorkerPtr>> workers = co_await CancelJobs(std::move(roots), std::move(reason));
  if (!workers) co_return;  // already terminal, or the commit failed (logged)
  std::string end_reason = "JOB_CANCELED";
  co_await TerminateAll(std::move(*workers), options_.timeout_grace, std::move(end_reason));
}

asio::awaitable<void> Supervisor::TerminateAll(std::vector<WorkerPtr> workers,
                                               std::chrono::milliseconds grace,
                                               std::string reason) {
  if (workers.empty()) co_return;
  auto remaining = std::make_shared<size_t>(workers.size());
  auto timer = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
  for (const WorkerPtr& w : workers) {
    tasks_.Spawn(internal::CountDown(TerminateLocked(w, grace, reason), remaining, timer),
                 "terminate");
  }
  if (*remaining > 0) (void)co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> Supervisor::CompleteIfDone(std::shared_ptr<LiveJob> job) {
  auto lock = co_await ScopedLock::Acquire(job->mu);
  if (core::IsTerminalJobState(job->rec.status) || !job->children.empty()) co_return;
  std::vector<WorkerState> states;
  states.reserve(job->workers.size());
  for (const WorkerPtr& w : job->workers) states.push_back(w->rec.status);
  std::optional<JobState> js = core::JobStatusFromWorkers(job->rec.status, states, false);
  if (js != JobState::kCompleted) co_return;  // failures were decided by the worker's change
  const TimeMs now = clock_.NowMs();
  Result<core::JobChange> c =
      core::PlanJobTransition(job->rec, JobState::kCompleted, "CHILDREN_ENDED", JobRows(*job), now);
  if (!c) co_return;
  core::Job row = std::move(c->row);
  store::ChangeSet cs;
  cs.job_updates.push_back(store::JobUpdate{row, c->from});
  cs.events.push_back(core::JobTransitionEvent(row, core::JobStateName(c->from), now));
  Status st = co_await commits_.Commit(cs);
  if (!st) {
    spdlog::error("job {}: completing after its children failed: {}", row.id, st.error().message);
    co_return;
  }
  job->rec = std::move(row);
  bus_.Publish(cs.events);
  lock.Release();
  AfterJobChange(job);
}

asio::awaitable<bool> Supervisor::CallerReaches(Caller caller, std::string job_id) {
  if (caller.job_id.empty()) co_return true;  // an operator's token: the whole workspace
  co_return co_await WithinSubtree(std::move(caller.workspace_id), std::move(caller.job_id),
                                   std::move(job_id));
}

asio::awaitable<bool> Supervisor::WithinSubtree(std::string workspace_id, std::string ancestor,
                                                std::string id) {
  std::string cur = std::move(id);
  for (int hops = 0; !cur.empty() && hops <= options_.max_depth + 1; ++hops) {
    if (cur == ancestor) co_return true;
    auto it = jobs_.find(cur);
    if (it != jobs_.end()) {
      cur = it->second->rec.parent_job_id;
      continue;
    }
    Result<core::Job> up =
        co_await RunBlocking(pool_, [&] { return store_.GetJob(workspace_id, cur); });
    if (!up) co_return false;
    cur = up->parent_job_id;
  }
  co_return false;
}

}  // namespace overseer::service
