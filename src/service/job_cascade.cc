// JobOperations: waiting for a job, a parent completing once its last active child has ended,
// and the follow-up of every job change (cancels: job_cancel.cc).
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
