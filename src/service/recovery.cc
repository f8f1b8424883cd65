#include "service/recovery.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/events.h"
#include "service/access.h"
#include "service/allocations.h"
#include "service/coroutines.h"
#include "service/dependencies.h"
#include "service/halts.h"
#include "service/job_operations.h"
#include "service/scheduler.h"
#include "service/worker_runner.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::JobState;
using core::WorkerEvent;
using core::WorkerState;

asio::awaitable<Status> Recovery::Recover() {
  co_await internal::AwaitCallback([this](std::function<void()> done) {
    ctx_.procs.KillLeftovers([done = std::move(done)](int killed) {
      if (killed > 0) spdlog::warn("recovery: ended {} leftover processes", killed);
      done();
    });
  });
  Result<std::vector<core::Quota>> quota_rows =
      co_await RunBlocking(ctx_.pool, [this] { return ctx_.store.ListQuotas(); });
  if (!quota_rows) co_return quota_rows.error();
  scheduler_.LoadLimits(*quota_rows);
  Result<std::vector<core::Allocation>> held =
      co_await RunBlocking(ctx_.pool, [this] { return ctx_.store.ListHeldAllocations(); });
  if (!held) co_return held.error();
  if (Status loaded = co_await Load(); !loaded) co_return loaded;
  if (Status slots = co_await HoldSlots(std::move(*held)); !slots) co_return slots;

  int failed = 0;
  std::vector<JobPtr> to_queue;
  std::vector<WorkerPtr> all;
  for (auto& [id, w] : ctx_.workers) all.push_back(w);
  for (const WorkerPtr& w : all) {
    auto lock = co_await ScopedLock::Acquire(w->mu);
    Status s;
    switch (w->rec.status) {
      case WorkerState::kRunning:
        ++failed;
        s = co_await runner_.Fail(w, "SUPERVISOR_RESTART", std::nullopt);
        break;
      case WorkerState::kPaused:
        // Its process ended with the daemon (KillLeftovers). SPEC §2 has no PAUSED -> FAILED:
        // the record says TERMINATED, and a paused worker is not retried.
        ++failed;
        s = co_await runner_.Transition(w, WorkerEvent::kTerminate, "SUPERVISOR_RESTART",
                                        [now = ctx_.clock.NowMs()](core::Worker& r) {
                                          if (r.started_at != 0) r.ended_at = now;
                                        });
        break;
      case WorkerState::kRetrying:
      case WorkerState::kIdle:
        if (w->job && !core::IsTerminalJobState(w->job->rec.status) && HaltedAt(*w->job)) {
          // Nothing (re)starts inside a halted subtree (SPEC §11).
          s = co_await runner_.Transition(w, WorkerEvent::kTerminate, "HALTED", nullptr);
        } else if (w->job && !core::IsTerminalJobState(w->job->rec.status)) {
          if (w->rec.status == WorkerState::kIdle && w->allocation_id.empty()) {
            // Never started: waits for a slot like any new job (FIFO by job id below).
            if (std::find(to_queue.begin(), to_queue.end(), w->job) == to_queue.end()) {
              to_queue.push_back(w->job);
            }
            break;
          }
          s = co_await runner_.Spawn(w);
        } else {
          s = co_await runner_.Transition(w, WorkerEvent::kTerminate, "JOB_ENDED", nullptr);
        }
        break;
      default:
        break;
    }
    if (!s) spdlog::error("recovery: worker {}: {}", w->rec.id, s.error().message);
  }
  // Jobs whose workers all ended while the daemon was down.
  std::vector<JobPtr> job_list;
  for (auto& [id, job] : ctx_.jobs) job_list.push_back(job);
  for (const auto& job : job_list) {
    auto lock = co_await ScopedLock::Acquire(job->mu);
    std::vector<WorkerState> states;
    for (const WorkerPtr& w : job->workers) states.push_back(w->rec.status);
    std::optional<JobState> js =
        core::JobStatusFromWorkers(job->rec.status, states, !job->children.empty());
    if (!js && job->rec.status == JobState::kSubmitted) js = JobState::kPending;
    Result<core::JobChange> c = MakeError(ErrorCode::kInvalidStateTransition, "no change");
    if (js) {
      c = core::PlanJobTransition(job->rec, *js, "RECOVERED", JobRows(*job), ctx_.clock.NowMs());
    }
    if (c) {
      store::ChangeSet cs;
      cs.job_updates.push_back(store::JobUpdate{c->row, c->from});
      cs.events.push_back(
          core::JobTransitionEvent(c->row, core::JobStateName(c->from), c->row.updated_at));
      Status s = co_await ctx_.commits.Commit(cs);
      if (s) {
        job->rec = std::move(c->row);
        ctx_.bus.Publish(cs.events);
      }
    }
    lock.Release();
    job_ops_.AfterJobChange(job);
    ctx_.Forget(job);
  }
  co_await Requeue(std::move(to_queue));
  std::erase_if(ctx_.workers, [](const auto& kv) { return !kv.second->job; });
  if (failed > 0) spdlog::warn("recovery: {} workers were running when the daemon stopped", failed);
  co_return OkStatus();
}

asio::awaitable<Status> Recovery::Load() {
  Result<std::vector<core::Job>> jobs = co_await RunBlocking(ctx_.pool, [this] {
    return ctx_.store.ListJobsInStates(
        {JobState::kSubmitted, JobState::kPending, JobState::kRunning});
  });
  if (!jobs) co_return jobs.error();
  Result<std::vector<core::Worker>> workers = co_await RunBlocking(ctx_.pool, [this] {
    return ctx_.store.ListWorkersInStates(
        {WorkerState::kIdle, WorkerState::kRunning, WorkerState::kPaused, WorkerState::kRetrying});
  });
  if (!workers) co_return workers.error();
  for (core::Job& j : *jobs) {
    auto job = std::make_shared<LiveJob>();
    job->rec = std::move(j);
    // Parsed once, here: a task that no longer parses cannot spawn (SPAWN_FAILED).
    if (Result<Task> task = ctx_.runtimes.ParseStored(job->rec.task_json)) {
      job->task = std::move(*task);
    } else {
      spdlog::warn("recovery: job {}: {}", job->rec.id, task.error().message);
    }
    ctx_.jobs[job->rec.id] = job;
  }
  // Active parents wait for their active children.
  for (auto& [id, job] : ctx_.jobs) {
    auto parent = ctx_.jobs.find(job->rec.parent_job_id);
    if (parent == ctx_.jobs.end()) continue;
    job->parent = parent->second;
    parent->second->children.push_back(job);
  }
  // Load every worker of each active job, so the job can follow all of them.
  for (auto& [id, job] : ctx_.jobs) {
    store::WorkerQuery q;
    q.job_id = id;
    q.limit = 1000;
    const std::string ws = job->rec.workspace_id;
    Result<store::Page<core::Worker>> page =
        co_await RunBlocking(ctx_.pool, [&] { return ctx_.store.ListWorkers(ws, q); });
    if (!page) co_return page.error();
    for (core::Worker& r : page->items) {
      auto w = std::make_shared<LiveWorker>();
      w->rec = std::move(r);
      w->job = job;
      job->workers.push_back(w);
      ctx_.workers[w->rec.id] = w;
    }
  }
  // Active workers whose job is already terminal (or missing).
  for (core::Worker& r : *workers) {
    if (ctx_.workers.count(r.id) != 0) continue;
    auto w = std::make_shared<LiveWorker>();
    Result<core::Job> j = co_await RunBlocking(
        ctx_.pool, [this, &r] { return ctx_.store.GetJob(r.workspace_id, r.job_id); });
    if (j) {
      auto job = std::make_shared<LiveJob>();
      job->rec = std::move(*j);
      job->workers.push_back(w);
      w->job = job;
    }
    w->rec = std::move(r);
    ctx_.workers[w->rec.id] = w;
  }
  co_return OkStatus();
}

asio::awaitable<Status> Recovery::HoldSlots(std::vector<core::Allocation> held) {
  store::ChangeSet cs;
  const TimeMs now = ctx_.clock.NowMs();
  for (const core::Allocation& a : held) {
    auto it = a.worker_id.empty() ? ctx_.workers.end() : ctx_.workers.find(a.worker_id);
    if (it != ctx_.workers.end() && it->second->job && it->second->allocation_id.empty()) {
      it->second->allocation_id = a.id;
      scheduler_.Adopt(a.workspace_id, a.depth, a.worker_count);
      continue;
    }
    auto job = ctx_.jobs.find(a.job_id);
    if (a.worker_id.empty() && job != ctx_.jobs.end() &&
        !core::IsTerminalJobState(job->second->rec.status)) {
      allocations_.Adopt(a);  // made through the API for a job still active
      continue;
    }
    cs.released_allocations.push_back(store::AllocationRelease{a.id, a.workspace_id, now});
  }
  if (cs.released_allocations.empty()) co_return OkStatus();
  co_return co_await ctx_.commits.Commit(cs);
}

asio::awaitable<void> Recovery::Requeue(std::vector<JobPtr> jobs) {
  std::sort(jobs.begin(), jobs.end(),
            [](const auto& a, const auto& b) { return a->rec.id < b->rec.id; });
  std::vector<JobPtr> dependency_failed;
  std::vector<JobPtr> ready;
  for (const auto& job : jobs) {
    if (core::IsTerminalJobState(job->rec.status)) continue;
    // Dependencies first: the job waits for those not yet COMPLETED, and is canceled if one
    // ended otherwise (or is gone).
    bool dep_failed = false;
    job->waiting_on.clear();
    for (const std::string& dep : job->rec.depends_on) {
      std::string ws = job->rec.workspace_id;
      std::string id = dep;
      Result<JobState> state = co_await access_.JobStatusOf(std::move(ws), std::move(id));
      if (state && *state == JobState::kCompleted) continue;
      if (!state || core::IsTerminalJobState(*state)) {
        dep_failed = true;
        break;
      }
      job->waiting_on.push_back(dep);
    }
    if (dep_failed) {
      dependency_failed.push_back(job);
    } else if (!job->waiting_on.empty()) {
      co_await deps_.WaitFor(job);
    } else {
      ready.push_back(job);
    }
  }
  if (!dependency_failed.empty()) {
    std::string reason = "DEPENDENCY_FAILED";
    co_await job_ops_.CancelCascade(std::move(dependency_failed), std::move(reason));
  }
  for (const auto& job : ready) scheduler_.Enqueue(job);
}

}  // namespace overseer::service
