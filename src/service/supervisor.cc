// Supervisor: construction, worker transitions (plan, commit, fail) and the job following its
// workers.
#include "service/supervisor.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/json.hpp>
#include <random>

#include "core/events.h"
#include "service/supervisor_internal.h"

namespace overseer::service {
namespace asio = boost::asio;
namespace json = boost::json;
using core::JobState;
using core::WorkerEvent;
using core::WorkerState;
using internal::LogFailure;

namespace {

double Random01() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

Supervisor::Supervisor(asio::io_context& io, BlockingPool& pool, store::Store& store,
                       proc::ProcessManager& procs, SupervisorOptions options, TokenMinter minter,
                       const Clock& clock)
    : io_(io),
      pool_(pool),
      store_(store),
      procs_(procs),
      options_(std::move(options)),
      minter_(std::move(minter)),
      clock_(clock),
      started_at_(clock.NowMs()),
      commits_(io, pool, store),
      quotas_(options_.default_quotas, options_.max_depth) {}

Supervisor::~Supervisor() {
  for (auto& [id, job] : jobs_) {
    job->workers.clear();  // break reference cycles
    job->children.clear();
  }
  for (auto& [id, w] : workers_) w->job.reset();
}

std::string Supervisor::LogPath(const std::string& worker_id) const {
  return options_.state_dir + "/logs/" + worker_id + ".log";
}

bool Supervisor::IsJobActive(const std::string& job_id) const {
  auto it = jobs_.find(job_id);
  return it != jobs_.end() && !core::IsTerminalJobState(it->second->rec.status);
}

// ---------------------------------------------------------------------------------------
// Transitions

Result<Supervisor::Planned> Supervisor::PlanTransition(
    const LiveWorker& w, WorkerEvent event, const std::string& reason,
    const std::function<void(core::Worker&)>& mutate, TimeMs now, store::ChangeSet& cs) const {
  Result<WorkerState> next = core::NextWorkerState(w.rec.status, event);
  if (!next) {
    Error err = next.error();
    err.With("worker_id", w.rec.id);
    return err;
  }
  Planned plan;
  core::Worker& updated = plan.worker;
  updated = w.rec;
  updated.status = *next;
  updated.status_reason = reason;
  updated.updated_at = now;
  if (mutate) mutate(updated);
  plan.transition =
      core::Transition{std::string(core::WorkerStateName(w.rec.status)),
                       std::string(core::WorkerStateName(updated.status)), reason, now};
  cs.worker_updates.push_back(store::WorkerUpdate{updated, w.rec.status, plan.transition});
  // A slot is held while the worker runs or waits to retry; a pause (SPEC §2) or the end
  // gives it back. (FAILED here is final: a retryable failure goes through Fail's own path.)
  if (!w.allocation_id.empty() &&
      (event == WorkerEvent::kPause || updated.status == WorkerState::kCompleted ||
       updated.status == WorkerState::kFailed || updated.status == WorkerState::kTerminated)) {
    cs.released_allocations.push_back(
        store::AllocationRelease{w.allocation_id, w.rec.workspace_id, now});
    plan.releases_slot = true;
  }
  if (w.new_allocation) cs.new_allocations.push_back(*w.new_allocation);
  cs.events.push_back(
      core::WorkerTransitionEvent(updated, core::WorkerStateName(w.rec.status), now));
  const LiveJob* job = w.job.get();
  if (job == nullptr) return plan;
  std::vector<WorkerState> states;
  states.reserve(job->workers.size());
  for (const WorkerPtr& sibling : job->workers) {
    states.push_back(sibling.get() == &w ? updated.status : sibling->rec.status);
  }
  std::optional<JobState> js =
      core::JobStatusFromWorkers(job->rec.status, states, !job->children.empty());
  if (!js) return plan;
  core::Job j;
  if (core::IsTerminalJobState(*js)) {
    j = TerminalJobRow(*job, *js,
                       *js == JobState::kCompleted                  ? "ALL_WORKERS_COMPLETED"
                       : updated.status == WorkerState::kTerminated ? "WORKER_TERMINATED"
                                                                    : "WORKER_FAILED",
                       now, &updated);
  } else {
    j = job->rec;
    j.status = *js;
    j.updated_at = now;
    if (*js == JobState::kRunning && j.started_at == 0) j.started_at = now;
    j.status_reason = "WORKERS_STARTED";
  }
  cs.job_updates.push_back(store::JobUpdate{j, job->rec.status});
  cs.events.push_back(core::JobTransitionEvent(j, core::JobStateName(job->rec.status), now));
  plan.job = std::move(j);
  return plan;
}

bool Supervisor::CommitPlanned(LiveWorker& w, Planned&& plan) {
  w.rec = std::move(plan.worker);
  if (w.history_complete) w.history.push_back(std::move(plan.transition));
  if (plan.releases_slot) {
    w.allocation_id.clear();
    if (w.job) ReleaseSlots(w.rec.workspace_id, w.job->rec.depth, 1);
  }
  if (w.new_allocation) {
    w.allocation_id = w.new_allocation->id;
    w.new_allocation.reset();
  }
  if (!plan.job || !w.job) return false;
  w.job->rec = std::move(*plan.job);
  return true;
}

asio::awaitable<Result<bool>> Supervisor::TransitionHeld(
    const WorkerPtr& w, WorkerEvent event, std::string reason,
    const std::function<void(core::Worker&)>& mutate) {
  store::ChangeSet cs;
  Result<Planned> plan = PlanTransition(*w, event, reason, mutate, clock_.NowMs(), cs);
  if (!plan) co_return plan.error();
  Status st = co_await commits_.Commit(cs);
  if (!st) co_return st.error();
  co_return CommitPlanned(*w, std::move(*plan));
}

asio::awaitable<Status> Supervisor::Transition(const WorkerPtr& w, WorkerEvent event,
                                               std::string reason,
                                               const std::function<void(core::Worker&)>& mutate) {
  std::shared_ptr<LiveJob> job = w->job;
  ScopedLock job_lock;
  if (job) job_lock = co_await ScopedLock::Acquire(job->mu);
  Result<bool> changed = co_await TransitionHeld(w, event, std::move(reason), mutate);
  if (!changed) co_return changed.error();
  if (*changed) {
    job_lock.Release();
    AfterJobChange(job);
  }
  co_return OkStatus();
}

asio::awaitable<Status> Supervisor::Fail(const WorkerPtr& w, std::string reason,
                                         std::optional<proc::ExitStatus> exit) {
  // Under the job's mu: whether a retry is left depends on the job not having ended, and that
  // must not change between the decision and its commit.
  std::shared_ptr<LiveJob> job = w->job;
  ScopedLock job_lock;
  if (job) job_lock = co_await ScopedLock::Acquire(job->mu);
  const TimeMs now = clock_.NowMs();
  auto record_exit = [&](core::Worker& r) {
    r.ended_at = now;
    if (exit) {
      if (exit->term_signal == 0) {
        r.exit_code = exit->exit_code;
      } else {
        r.exit_signal = exit->term_signal;
      }
    }
  };
  const bool retry_left = job && w->rec.attempt < job->rec.retry.max_attempts &&
                          !core::IsTerminalJobState(job->rec.status) && !shutting_down_;
  if (!retry_left) {
    Result<bool> changed = co_await TransitionHeld(w, WorkerEvent::kExitedBad, reason, record_exit);
    if (!changed) co_return changed.error();
    if (*changed) {
      job_lock.Release();
      AfterJobChange(job);
    }
    co_return OkStatus();
  }
  // FAILED then RETRYING in one transaction, so the job never sees a retryable failure.
  Result<WorkerState> failed = core::NextWorkerState(w->rec.status, WorkerEvent::kExitedBad);
  if (!failed) co_return failed.error();
  Result<WorkerState> retrying = core::NextWorkerState(*failed, WorkerEvent::kRetry);
  if (!retrying) co_return retrying.error();
  core::Worker f = w->rec;
  f.status = *failed;
  f.status_reason = reason;
  f.updated_at = now;
  record_exit(f);
  core::Worker r = f;
  r.status = *retrying;
  r.status_reason = "RETRY_SCHEDULED";
  const int64_t delay = core::BackoffMs(job->rec.retry, w->rec.attempt, Random01());
  store::ChangeSet cs;
  cs.worker_updates.push_back(store::WorkerUpdate{
      f, w->rec.status,
      core::Transition{std::string(core::WorkerStateName(w->rec.status)), "FAILED", reason, now}});
  cs.worker_updates.push_back(store::WorkerUpdate{
      r, WorkerState::kFailed, core::Transition{"FAILED", "RETRYING", "RETRY_SCHEDULED", now}});
  cs.events.push_back(core::WorkerTransitionEvent(f, core::WorkerStateName(w->rec.status), now));
  cs.events.push_back(core::WorkerTransitionEvent(r, "FAILED", now, delay));
  Status st = co_await commits_.Commit(cs);
  if (!st) co_return st;
  if (w->history_complete) {
    for (const store::WorkerUpdate& u : cs.worker_updates) w->history.push_back(u.transition);
  }
  w->rec = std::move(r);
  w->retry_timer = std::make_unique<asio::steady_timer>(io_, std::chrono::milliseconds(delay));
  const int attempt = w->rec.attempt;
  w->retry_timer->async_wait([this, w, attempt](boost::system::error_code ec) {
    if (ec) return;
    asio::co_spawn(io_, OnRetryDue(w, attempt),
                   [](std::exception_ptr e) { LogFailure(e, "retry"); });
  });
  co_return OkStatus();
}

// ---------------------------------------------------------------------------------------
// The job follows its workers

core::Job Supervisor::TerminalJobRow(const LiveJob& job, JobState to, std::string reason,
                                     TimeMs now, const core::Worker* changed) {
  core::Job j = job.rec;
  j.status = to;
  j.status_reason = std::move(reason);
  j.updated_at = now;
  j.completed_at = now;
  json::array codes;
  for (const WorkerPtr& sibling : job.workers) {
    const core::Worker& r =
        changed != nullptr && changed->id == sibling->rec.id ? *changed : sibling->rec;
    if (r.exit_code) {
      codes.push_back(*r.exit_code);
    } else {
      codes.push_back(nullptr);
    }
  }
  j.result_json = json::serialize(json::object{{"exit_codes", codes}});
  return j;
}

void Supervisor::AfterJobChange(const std::shared_ptr<LiveJob>& job) {
  if (!core::IsTerminalJobState(job->rec.status)) return;
  // A queued job that ended (canceled) no longer holds up the jobs behind it.
  ScheduleQueued(job->rec.workspace_id, job->rec.depth);
  AfterDependencyEnded(job->rec);
  // Slots allocated for it through the API are given back with it.
  std::vector<std::string> allocations;
  for (const auto& [id, a] : api_allocations_) {
    if (a.job_id == job->rec.id) allocations.push_back(id);
  }
  if (!allocations.empty()) {
    asio::co_spawn(io_, ReleaseApiAllocations(std::move(allocations)),
                   [](std::exception_ptr e, const Result<std::vector<core::Allocation>>&) {
                     LogFailure(e, "release allocations");
                   });
  }
  for (const auto& t : job->waiters) t->cancel();
  job->waiters.clear();
  // A job canceled by its own worker's end (an IDLE worker of a PENDING job terminated) is
  // cleaned up like a failed one; a cancel request ends its workers and children itself.
  if (job->rec.status == JobState::kFailed ||
      (job->rec.status == JobState::kCanceled && job->rec.status_reason == "WORKER_TERMINATED")) {
    // A failed job's remaining workers are ended (as Kubernetes does with a failed Job), and
    // the sub-jobs it started are canceled: nothing is left to collect their work. (A
    // CANCELED job's workers and children are ended by the cancel itself.)
    for (const WorkerPtr& sibling : job->workers) {
      const WorkerState s = sibling->rec.status;
      if (s == WorkerState::kRunning || s == WorkerState::kPaused || s == WorkerState::kIdle ||
          s == WorkerState::kRetrying) {
        asio::co_spawn(io_, TerminateLocked(sibling, options_.timeout_grace, "JOB_FAILED"),
                       [](std::exception_ptr e, Status) { LogFailure(e, "terminate"); });
      }
    }
    if (!job->children.empty()) {
      asio::co_spawn(io_, CancelCascade(std::move(job->children), "PARENT_FAILED"),
                     [](std::exception_ptr e) { LogFailure(e, "cancel children"); });
    }
  }
  job->children.clear();
  if (std::shared_ptr<LiveJob> parent = job->parent.lock()) {
    std::erase(parent->children, job);
    job->parent.reset();
    if (parent->children.empty() && !core::IsTerminalJobState(parent->rec.status)) {
      asio::co_spawn(io_, CompleteIfDone(parent),
                     [](std::exception_ptr e) { LogFailure(e, "complete parent"); });
    }
  }
  Forget(job);
}

void Supervisor::Forget(const std::shared_ptr<LiveJob>& job) {
  // Drop the job and its workers from memory once nothing of theirs can change.
  for (const WorkerPtr& w : job->workers) {
    const WorkerState s = w->rec.status;
    if (s != WorkerState::kCompleted && s != WorkerState::kTerminated &&
        s != WorkerState::kFailed) {
      return;
    }
    if (w->process) return;
  }
  if (!core::IsTerminalJobState(job->rec.status)) return;
  for (const WorkerPtr& w : job->workers) workers_.erase(w->rec.id);
  jobs_.erase(job->rec.id);
  job->workers.clear();  // break the job <-> worker reference cycle
}
}  // namespace overseer::service
