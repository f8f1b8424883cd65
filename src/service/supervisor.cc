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

namespace {

double Random01() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

Supervisor::Supervisor(asio::io_context& io, BlockingPool& pool, store::Store& store,
                       proc::Launcher& procs, SupervisorOptions options, TokenMinter minter,
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
      tasks_(io),
      quotas_(options_.default_quotas, options_.max_depth) {}

Supervisor::~Supervisor() {
  for (auto& [id, job] : jobs_) {
    job->workers.clear();  // break reference cycles
    job->children.clear();
  }
  for (auto& [id, w] : workers_) w->job.reset();
}

void Supervisor::RecordEnd(core::Worker& r, TimeMs now,
                           const std::optional<proc::ExitStatus>& exit) {
  if (r.started_at != 0) r.ended_at = now;  // an IDLE worker never started: no end either
  if (!exit) return;
  if (exit->term_signal == 0) {
    r.exit_code = exit->exit_code;
  } else {
    r.exit_signal = exit->term_signal;
  }
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

Result<core::WorkerPlan> Supervisor::PlanTransition(
    const LiveWorker& w, WorkerEvent event, const std::string& reason,
    const std::function<void(core::Worker&)>& mutate, TimeMs now) const {
  std::vector<const core::Worker*> siblings = SiblingRows(w);
  return core::PlanWorkerTransition(Subject(w, siblings), event, reason, mutate, now);
}

std::vector<const core::Worker*> Supervisor::SiblingRows(const LiveWorker& w) {
  if (!w.job) return {};
  return JobRows(*w.job);
}

std::vector<const core::Worker*> Supervisor::JobRows(const LiveJob& job) {
  std::vector<const core::Worker*> rows;
  rows.reserve(job.workers.size());
  for (const WorkerPtr& s : job.workers) rows.push_back(&s->rec);
  return rows;
}

core::WorkerSubject Supervisor::Subject(const LiveWorker& w,
                                        const std::vector<const core::Worker*>& siblings) {
  return core::WorkerSubject{w.rec, w.job ? &w.job->rec : nullptr, siblings,
                             w.job && !w.job->children.empty(), !w.allocation_id.empty()};
}

void Supervisor::AddPlanRows(const core::WorkerPlan& plan, store::ChangeSet& cs) {
  for (const core::WorkerChange& c : plan.changes) {
    cs.worker_updates.push_back(store::WorkerUpdate{c.row, c.from, c.transition});
  }
  if (plan.job) cs.job_updates.push_back(store::JobUpdate{plan.job->row, plan.job->from});
  cs.events.insert(cs.events.end(), plan.events.begin(), plan.events.end());
}

void Supervisor::AddPlan(const LiveWorker& w, const core::WorkerPlan& plan, TimeMs now,
                         store::ChangeSet& cs) {
  if (plan.releases_slot) {
    cs.released_allocations.push_back(
        store::AllocationRelease{w.allocation_id, w.rec.workspace_id, now});
  }
  if (w.new_allocation) cs.new_allocations.push_back(*w.new_allocation);
  AddPlanRows(plan, cs);
}

bool Supervisor::CommitPlanned(LiveWorker& w, core::WorkerPlan&& plan) {
  w.rec = plan.final_row();
  if (w.history_complete) {
    for (core::WorkerChange& c : plan.changes) w.history.push_back(std::move(c.transition));
  }
  if (plan.releases_slot) {
    w.allocation_id.clear();
    if (w.job) ReleaseSlots(w.rec.workspace_id, w.job->rec.depth, 1);
  }
  if (w.new_allocation) {
    w.allocation_id = w.new_allocation->id;
    w.new_allocation.reset();
  }
  if (!plan.job || !w.job) return false;
  w.job->rec = std::move(plan.job->row);
  return true;
}

asio::awaitable<Result<bool>> Supervisor::TransitionHeld(
    const WorkerPtr& w, WorkerEvent event, std::string reason,
    const std::function<void(core::Worker&)>& mutate) {
  const TimeMs now = clock_.NowMs();
  Result<core::WorkerPlan> plan = PlanTransition(*w, event, reason, mutate, now);
  if (!plan) co_return plan.error();
  store::ChangeSet cs;
  AddPlan(*w, *plan, now, cs);
  Status st = co_await commits_.Commit(cs);
  if (!st) co_return st.error();
  const bool job_changed = CommitPlanned(*w, std::move(*plan));
  bus_.Publish(cs.events);
  co_return job_changed;
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
  auto record_exit = [&](core::Worker& r) { RecordEnd(r, now, exit); };
  const bool retry_left = job && w->rec.attempt < job->rec.retry.max_attempts &&
                          core::IsActiveJobState(job->rec.status) && !shutting_down_;
  std::optional<int64_t> retry_in_ms;
  if (retry_left) retry_in_ms = core::BackoffMs(job->rec.retry, w->rec.attempt, Random01());
  std::vector<const core::Worker*> siblings = SiblingRows(*w);
  Result<core::WorkerPlan> plan =
      core::PlanFailure(Subject(*w, siblings), reason, record_exit, retry_in_ms, now);
  if (!plan) co_return plan.error();
  store::ChangeSet cs;
  AddPlan(*w, *plan, now, cs);
  Status st = co_await commits_.Commit(cs);
  if (!st) co_return st;
  const bool job_changed = CommitPlanned(*w, std::move(*plan));
  bus_.Publish(cs.events);
  if (job_changed) {
    job_lock.Release();
    AfterJobChange(job);
  }
  if (!retry_in_ms) co_return OkStatus();
  w->retry_timer =
      std::make_unique<asio::steady_timer>(io_, std::chrono::milliseconds(*retry_in_ms));
  const int attempt = w->rec.attempt;
  w->retry_timer->async_wait([this, w, attempt](boost::system::error_code ec) {
    if (ec) return;
    tasks_.Spawn(internal::Discard(OnRetryDue(w, attempt)), "retry");
  });
  co_return OkStatus();
}

// ---------------------------------------------------------------------------------------
// The job follows its workers

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
    tasks_.Spawn(internal::Discard(ReleaseApiAllocations(std::move(allocations))),
                 "release allocations");
  }
  // A job canceled by its own worker's end (an IDLE worker of a PENDING job terminated) is
  // cleaned up like a failed one; a cancel request ends its workers and children itself.
  if (job->rec.status == JobState::kFailed ||
      (job->rec.status == JobState::kCanceled && job->rec.status_reason == "WORKER_TERMINATED")) {
    // A failed job's remaining workers are ended (as Kubernetes does with a failed Job), and
    // the sub-jobs it started are canceled: nothing is left to collect their work. (A
    // CANCELED job's workers and children are ended by the cancel itself.)
    for (const WorkerPtr& sibling : job->workers) {
      if (core::IsActiveWorkerState(sibling->rec.status)) {
        tasks_.Spawn(
            internal::Discard(TerminateLocked(sibling, options_.timeout_grace, "JOB_FAILED")),
            "terminate");
      }
    }
    if (!job->children.empty()) {
      tasks_.Spawn(internal::Discard(CancelCascade(std::move(job->children), "PARENT_FAILED")),
                   "cancel children");
    }
  }
  job->children.clear();
  if (std::shared_ptr<LiveJob> parent = job->parent.lock()) {
    std::erase(parent->children, job);
    job->parent.reset();
    if (parent->children.empty() && !core::IsTerminalJobState(parent->rec.status)) {
      tasks_.Spawn(internal::Discard(CompleteIfDone(parent)), "complete parent");
    }
  }
  Forget(job);
}

void Supervisor::Forget(const std::shared_ptr<LiveJob>& job) {
  // Drop the job and its workers from memory once nothing of theirs can change.
  for (const WorkerPtr& w : job->workers) {
    if (core::IsActiveWorkerState(w->rec.status) || w->process) return;
  }
  if (!core::IsTerminalJobState(job->rec.status)) return;
  for (const WorkerPtr& w : job->workers) workers_.erase(w->rec.id);
  jobs_.erase(job->rec.id);
  job->workers.clear();  // break the job <-> worker reference cycle
}
}  // namespace overseer::service
