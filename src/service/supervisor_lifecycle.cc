// Supervisor: recovery at start and shutdown.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/events.h"
#include "service/supervisor.h"
#include "service/supervisor_internal.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::JobState;
using core::WorkerEvent;
using core::WorkerState;
using internal::AwaitCallback;

asio::awaitable<Status> Supervisor::Recover() {
  co_await AwaitCallback([this](std::function<void()> done) {
    procs_.KillLeftovers([done = std::move(done)](int killed) {
      if (killed > 0) spdlog::warn("recovery: ended {} leftover processes", killed);
      done();
    });
  });
  Result<std::vector<core::Job>> jobs = co_await RunBlocking(pool_, [this] {
    return store_.ListJobsInStates({JobState::kSubmitted, JobState::kPending, JobState::kRunning});
  });
  if (!jobs) co_return jobs.error();
  Result<std::vector<core::Worker>> workers = co_await RunBlocking(pool_, [this] {
    return store_.ListWorkersInStates(
        {WorkerState::kIdle, WorkerState::kRunning, WorkerState::kPaused, WorkerState::kRetrying});
  });
  if (!workers) co_return workers.error();
  Result<std::vector<core::Quota>> quota_rows =
      co_await RunBlocking(pool_, [this] { return store_.ListQuotas(); });
  if (!quota_rows) co_return quota_rows.error();
  for (const core::Quota& q : *quota_rows) quotas_.SetLimit(q.workspace_id, q.depth, q.max_workers);
  Result<std::vector<core::Allocation>> held =
      co_await RunBlocking(pool_, [this] { return store_.ListHeldAllocations(); });
  if (!held) co_return held.error();

  for (core::Job& j : *jobs) {
    auto job = std::make_shared<LiveJob>();
    job->rec = std::move(j);
    // Parsed once, here: a task that no longer parses cannot spawn (SPAWN_FAILED).
    if (Result<Task> task = runtimes_.ParseStored(job->rec.task_json)) {
      job->task = std::move(*task);
    } else {
      spdlog::warn("recovery: job {}: {}", job->rec.id, task.error().message);
    }
    jobs_[job->rec.id] = job;
  }
  // Active parents wait for their active children.
  for (auto& [id, job] : jobs_) {
    auto parent = jobs_.find(job->rec.parent_job_id);
    if (parent == jobs_.end()) continue;
    job->parent = parent->second;
    parent->second->children.push_back(job);
  }
  // Load every worker of each active job, so the job can follow all of them.
  for (auto& [id, job] : jobs_) {
    store::WorkerQuery q;
    q.job_id = id;
    q.limit = 1000;
    const std::string ws = job->rec.workspace_id;
    Result<store::Page<core::Worker>> page =
        co_await RunBlocking(pool_, [&] { return store_.ListWorkers(ws, q); });
    if (!page) co_return page.error();
    for (core::Worker& r : page->items) {
      auto w = std::make_shared<LiveWorker>();
      w->rec = std::move(r);
      w->job = job;
      job->workers.push_back(w);
      workers_[w->rec.id] = w;
    }
  }
  // Active workers whose job is already terminal (or missing).
  for (core::Worker& r : *workers) {
    if (workers_.count(r.id) != 0) continue;
    auto w = std::make_shared<LiveWorker>();
    Result<core::Job> j =
        co_await RunBlocking(pool_, [this, &r] { return store_.GetJob(r.workspace_id, r.job_id); });
    if (j) {
      auto job = std::make_shared<LiveJob>();
      job->rec = std::move(*j);
      job->workers.push_back(w);
      w->job = job;
    }
    w->rec = std::move(r);
    workers_[w->rec.id] = w;
  }

  // Slots: a worker that may still run keeps its allocation; every other one is released.
  {
    store::ChangeSet cs;
    const TimeMs now = clock_.NowMs();
    for (const core::Allocation& a : *held) {
      auto it = a.worker_id.empty() ? workers_.end() : workers_.find(a.worker_id);
      if (it != workers_.end() && it->second->job && it->second->allocation_id.empty()) {
        it->second->allocation_id = a.id;
        quotas_.Take(a.workspace_id, a.depth, a.worker_count);
        continue;
      }
      auto job = jobs_.find(a.job_id);
      if (a.worker_id.empty() && job != jobs_.end() &&
          !core::IsTerminalJobState(job->second->rec.status)) {
        api_allocations_[a.id] = a;  // made through the API for a job still active
        quotas_.Take(a.workspace_id, a.depth, a.worker_count);
        continue;
      }
      cs.released_allocations.push_back(store::AllocationRelease{a.id, a.workspace_id, now});
    }
    if (!cs.released_allocations.empty()) {
      Status s = co_await commits_.Commit(cs);
      if (!s) co_return s;
    }
  }

  int failed = 0;
  std::vector<std::shared_ptr<LiveJob>> to_queue;
  std::vector<WorkerPtr> all;
  for (auto& [id, w] : workers_) all.push_back(w);
  for (const WorkerPtr& w : all) {
    auto lock = co_await ScopedLock::Acquire(w->mu);
    Status s;
    switch (w->rec.status) {
      case WorkerState::kRunning:
        ++failed;
        s = co_await Fail(w, "SUPERVISOR_RESTART", std::nullopt);
        break;
      case WorkerState::kPaused:
        // Its process ended with the daemon (KillLeftovers). SPEC §2 has no PAUSED -> FAILED:
        // the record says TERMINATED, and a paused worker is not retried.
        ++failed;
        s = co_await Transition(w, WorkerEvent::kTerminate, "SUPERVISOR_RESTART",
                                [now = clock_.NowMs()](core::Worker& r) {
                                  if (r.started_at != 0) r.ended_at = now;
                                });
        break;
      case WorkerState::kRetrying:
      case WorkerState::kIdle:
        if (w->job && !core::IsTerminalJobState(w->job->rec.status)) {
          if (w->rec.status == WorkerState::kIdle && w->allocation_id.empty()) {
            // Never started: waits for a slot like any new job (FIFO by job id below).
            if (std::find(to_queue.begin(), to_queue.end(), w->job) == to_queue.end()) {
              to_queue.push_back(w->job);
            }
            break;
          }
          s = co_await Spawn(w);
        } else {
          s = co_await Transition(w, WorkerEvent::kTerminate, "JOB_ENDED", nullptr);
        }
        break;
      default:
        break;
    }
    if (!s) spdlog::error("recovery: worker {}: {}", w->rec.id, s.error().message);
  }
  // Jobs whose workers all ended while the daemon was down.
  std::vector<std::shared_ptr<LiveJob>> job_list;
  for (auto& [id, job] : jobs_) job_list.push_back(job);
  for (const auto& job : job_list) {
    auto lock = co_await ScopedLock::Acquire(job->mu);
    std::vector<WorkerState> states;
    for (const WorkerPtr& w : job->workers) states.push_back(w->rec.status);
    std::optional<JobState> js =
        core::JobStatusFromWorkers(job->rec.status, states, !job->children.empty());
    if (!js && job->rec.status == JobState::kSubmitted) js = JobState::kPending;
    Result<core::JobChange> c = MakeError(ErrorCode::kInvalidStateTransition, "no change");
    if (js) c = core::PlanJobTransition(job->rec, *js, "RECOVERED", JobRows(*job), clock_.NowMs());
    if (c) {
      store::ChangeSet cs;
      cs.job_updates.push_back(store::JobUpdate{c->row, c->from});
      cs.events.push_back(
          core::JobTransitionEvent(c->row, core::JobStateName(c->from), c->row.updated_at));
      Status s = co_await commits_.Commit(cs);
      if (s) {
        job->rec = std::move(c->row);
        bus_.Publish(cs.events);
      }
    }
    lock.Release();
    AfterJobChange(job);
    Forget(job);
  }
  std::sort(to_queue.begin(), to_queue.end(),
            [](const auto& a, const auto& b) { return a->rec.id < b->rec.id; });
  std::vector<std::shared_ptr<LiveJob>> dependency_failed;
  for (const auto& job : to_queue) {
    if (core::IsTerminalJobState(job->rec.status)) continue;
    // Dependencies first: the job waits for those not yet COMPLETED, and is canceled if one
    // ended otherwise (or is gone).
    bool dep_failed = false;
    job->waiting_on.clear();
    for (const std::string& dep : job->rec.depends_on) {
      std::string ws = job->rec.workspace_id;
      std::string id = dep;
      Result<JobState> state = co_await JobStatusOf(std::move(ws), std::move(id));
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
      for (const std::string& dep : job->waiting_on) dependents_[dep].push_back(job);
    } else {
      queued_[{job->rec.workspace_id, job->rec.depth}].push_back(job);
    }
  }
  if (!dependency_failed.empty()) {
    std::string reason = "DEPENDENCY_FAILED";
    co_await CancelCascade(std::move(dependency_failed), std::move(reason));
  }
  for (const auto& job : to_queue) ScheduleQueued(job->rec.workspace_id, job->rec.depth);
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (!it->second->job) {
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
  if (failed > 0) spdlog::warn("recovery: {} workers were running when the daemon stopped", failed);
  co_return OkStatus();
}

asio::awaitable<void> Supervisor::Shutdown(std::chrono::milliseconds grace) {
  shutting_down_ = true;
  bus_.Close();  // long polls answer now
  std::vector<WorkerPtr> active;
  for (auto& [id, w] : workers_) {
    // An IDLE worker has no process: its job (waiting for slots or dependencies) stays
    // PENDING and is queued again at the next start.
    if (core::IsActiveWorkerState(w->rec.status) && w->rec.status != WorkerState::kIdle) {
      active.push_back(w);
    }
  }
  std::string reason = "SUPERVISOR_SHUTDOWN";
  co_await TerminateAll(std::move(active), grace, std::move(reason));
  // What they set off (exits to record, cascades) ends before the store closes.
  (void)co_await tasks_.Drain(grace + std::chrono::seconds(2));
}
}  // namespace overseer::service
