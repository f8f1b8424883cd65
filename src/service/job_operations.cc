// JobOperations: creating a job.
#include "service/job_operations.h"

#include <functional>

#include "common/fd_errors.h"
#include "common/ids.h"
#include "core/events.h"
#include "service/access.h"
#include "service/budgets.h"
#include "service/dependencies.h"
#include "service/halts.h"
#include "service/scheduler.h"
#include "service/worker_runner.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::JobState;
using core::WorkerState;

namespace {

// The 409 of a sub-job asked for under a parent that has ended.
Error ParentEnded(const std::string& parent_id, JobState state) {
  Error e = MakeError(ErrorCode::kInvalidStateTransition,
                      "parent job is " + std::string(core::JobStateName(state)) +
                          ": sub-jobs can be added only to a PENDING or RUNNING job");
  e.With("field", "parent_job_id")
      .With("job_id", parent_id)
      .With("current_state", std::string(core::JobStateName(state)));
  return e;
}

}  // namespace

asio::awaitable<Result<int>> JobOperations::DepthUnder(const Caller& caller,
                                                       const std::string& parent_id,
                                                       std::optional<int> requested_depth) {
  int depth = 0;
  if (!parent_id.empty()) {
    Result<core::Job> parent = co_await RunBlocking(ctx_.pool, [this, &caller, &parent_id] {
      return ctx_.store.GetJob(caller.workspace_id, parent_id);
    });
    if (!parent) {
      if (parent.error().code != ErrorCode::kNotFound) co_return parent.error();
      Error e = MakeError(ErrorCode::kInvalidRequest, "parent_job_id: no such job");
      e.With("field", "parent_job_id");
      co_return e;
    }
    bool inside = true;
    if (!caller.job_id.empty() && parent_id != caller.job_id) {
      // A worker token may create jobs only under its own subtree.
      std::string ws = caller.workspace_id;
      std::string ancestor = caller.job_id;
      std::string from = parent->parent_job_id;
      inside = co_await access_.WithinSubtree(std::move(ws), std::move(ancestor), std::move(from));
    }
    if (!inside) {
      Error e = MakeError(ErrorCode::kInsufficientScope,
                          "a worker token may create jobs only under its own job");
      e.With("field", "parent_job_id");
      co_return e;
    }
    if (core::IsTerminalJobState(parent->status)) co_return ParentEnded(parent_id, parent->status);
    depth = parent->depth + 1;
  }
  if (requested_depth && *requested_depth != depth) {
    Error e = MakeError(ErrorCode::kInvalidRequest,
                        "depth must equal the parent's depth + 1 (" + std::to_string(depth) + ")");
    e.With("field", "depth").With("expected", depth);
    co_return e;
  }
  if (depth > ctx_.options.max_depth) {
    Error e = MakeError(ErrorCode::kMaxDepthExceeded, "job would be deeper than max_depth");
    e.With("depth", depth).With("max_depth", ctx_.options.max_depth);
    co_return e;
  }
  co_return depth;
}

asio::awaitable<Result<JobOperations::DependencyCheck>> JobOperations::CheckDependencies(
    const Caller& caller, const std::vector<std::string>& depends_on) {
  // Dependencies: each must be a job of the workspace; those not yet COMPLETED are waited for,
  // and one already FAILED or CANCELED cancels this job at once (DEPENDENCY_FAILED).
  DependencyCheck out;
  for (const std::string& dep : depends_on) {
    std::string ws = caller.workspace_id;
    std::string id = dep;
    Result<JobState> state = co_await access_.JobStatusOf(std::move(ws), std::move(id));
    if (!state) {
      if (state.error().code != ErrorCode::kNotFound) co_return state.error();
      Error e = MakeError(ErrorCode::kInvalidRequest, "depends_on: no such job " + dep);
      e.With("field", "depends_on").With("job_id", dep);
      co_return e;
    }
    if (*state == JobState::kCompleted) continue;
    if (*state == JobState::kFailed || *state == JobState::kCanceled) {
      out.failed = true;
    } else {
      out.waiting_on.push_back(dep);
    }
  }
  co_return out;
}

asio::awaitable<Result<core::Job>> JobOperations::CreateJob(Caller caller, JobSpec spec) {
  if (ctx_.shutting_down)
    co_return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
  std::string parent_id = spec.parent_job_id;
  if (parent_id.empty() && !caller.job_id.empty()) parent_id = caller.job_id;
  // A halted subtree or workspace accepts no new job (SPEC §11), whatever else is wrong.
  if (Status open = co_await halts_.CheckNewJob(caller, parent_id); !open) co_return open.error();
  Result<int> depth_or = co_await DepthUnder(caller, parent_id, spec.depth);
  if (!depth_or) co_return depth_or.error();
  const int depth = *depth_or;

  // A job that could never start under the current quota is refused rather than queued forever.
  if (Status fits = scheduler_.CheckCanEverStart(caller.workspace_id, depth, spec.worker_count);
      !fits) {
    co_return fits.error();
  }

  Result<DependencyCheck> deps = co_await CheckDependencies(caller, spec.depends_on);
  if (!deps) co_return deps.error();

  // The parent's mu is held from here through the commit of the new job and its linking as
  // the parent's child: a cancel of the parent either comes first (409 here) or sees the child.
  // (parent_live first: it is destroyed after the lock, whose mutex it owns.)
  JobPtr parent_live;
  ScopedLock parent_lock;
  if (!parent_id.empty()) {
    auto p = ctx_.jobs.find(parent_id);
    if (p != ctx_.jobs.end() && p->second->rec.workspace_id == caller.workspace_id) {
      parent_live = p->second;
      parent_lock = co_await ScopedLock::Acquire(parent_live->mu);
      // Checked again under the parent's mu: a halt committed since the check above is seen
      // here; one committed later walks its subtree taking each job's mu, so it finds this
      // child linked and halts it too.
      if (const LiveJob* halted = HaltedAt(*parent_live)) {
        co_return HaltedError(halted->rec, "the parent job is inside a halted subtree");
      }
    }
    if (!parent_live || core::IsTerminalJobState(parent_live->rec.status)) {
      Result<core::Job> parent = co_await RunBlocking(ctx_.pool, [this, &caller, &parent_id] {
        return ctx_.store.GetJob(caller.workspace_id, parent_id);
      });
      if (!parent) co_return parent.error();
      if (!core::IsTerminalJobState(parent->status)) {
        // Recorded but not yet supervised: its own creation is still being committed.
        co_return MakeError(ErrorCode::kUnavailable,
                            "parent job is still being started: try again in a moment");
      }
      co_return ParentEnded(parent_id, parent->status);
    }
  }

  // Out of descriptors, a job would be written and its workers fail to start (on PostgreSQL the
  // pool's connections are already open; SQLite's commit would fail first): a transient
  // shortage is refused before anything is written (503, Retry-After), on both databases.
  if (Status fds = CheckDescriptorsLeft(kDescriptorsPerSpawn, "accepting a job"); !fds) {
    co_return fds.error();
  }

  // Budgets (SPEC §11): the new budget reserved from the pool above, the fan-out caps, a
  // spent subtree refused; checked and taken at once, still under the parent's mu.
  Result<BudgetAdmission> admitted = budgets_.Admit(parent_live, spec.budget);
  if (!admitted) co_return admitted.error();
  const BudgetAdmission admission = std::move(*admitted);

  const TimeMs now = ctx_.clock.NowMs();
  auto job = std::make_shared<LiveJob>();
  job->task = std::move(spec.task);
  job->waiting_on = deps->waiting_on;
  if (deps->failed) job->waiting_on = spec.depends_on;  // never starts: canceled below
  core::Job& j = job->rec;
  j.id = NewId("j_");
  j.workspace_id = caller.workspace_id;
  j.name = spec.name;
  j.status = JobState::kSubmitted;
  j.depth = depth;
  j.parent_job_id = parent_id;
  j.depends_on = spec.depends_on;
  j.worker_count = spec.worker_count;
  j.timeout_seconds = spec.timeout_seconds;
  const Runtime* runtime = ctx_.runtimes.Find(job->task->runtime);
  j.stall_seconds =
      spec.stall_seconds.value_or(runtime != nullptr ? runtime->DefaultStallSeconds() : 0);
  j.retry = spec.retry;
  j.budget = spec.budget;
  j.task_json = job->task->canonical_json;
  j.metadata_json = spec.metadata_json.empty() ? "{}" : spec.metadata_json;
  j.created_at = now;
  j.updated_at = now;
  // SUBMITTED is never stored: the job is recorded PENDING by the commit that accepts it,
  // and that acceptance is its first event (SUBMITTED -> PENDING).
  Result<core::JobChange> accepted =
      core::PlanJobTransition(j, JobState::kPending, "ACCEPTED", {}, now);
  if (!accepted) {
    budgets_.Abandon(admission);
    co_return accepted.error();
  }
  j = accepted->row;

  store::ChangeSet cs;
  // The parent read above must still be active when the child is written (the store checks it
  // in the same transaction: kConflict otherwise), whoever else writes the database.
  if (!parent_id.empty())
    cs.require_jobs.push_back(store::JobStillActive(j.workspace_id, parent_id));
  cs.new_jobs.push_back(j);
  for (int i = 0; i < spec.worker_count; ++i) {
    auto w = std::make_shared<LiveWorker>();
    w->job = job;
    core::Worker& r = w->rec;
    r.id = NewId("w_");
    r.workspace_id = j.workspace_id;
    r.job_id = j.id;
    r.status = WorkerState::kIdle;
    r.status_reason = "CREATED";
    r.metadata_json = j.metadata_json;
    r.log_path = ctx_.LogPath(r.id);
    r.created_at = now;
    r.updated_at = now;
    cs.new_workers.push_back(r);
    w->history_complete = true;
    w->history.push_back(
        core::Transition{"", std::string(core::WorkerStateName(r.status)), r.status_reason, now});
    job->workers.push_back(std::move(w));
  }
  cs.events.push_back(core::JobTransitionEvent(j, core::JobStateName(accepted->from), now));
  // One commit for the job, its workers and their start (spawned first: a crash before the
  // commit leaves processes that the next start ends as leftovers, and no record behind).
  // Our own references: a job that ends at once (its processes could not start) is forgotten
  // (its list cleared) while these locks are held.
  const std::vector<WorkerPtr> workers = job->workers;
  std::vector<ScopedLock> locks;
  locks.reserve(workers.size());
  for (const WorkerPtr& w : workers) locks.push_back(co_await ScopedLock::Acquire(w->mu));
  // A root job is checked against a workspace halt again as it becomes live: one recorded
  // while it was being created (the checks above wait on the database) has walked the root
  // jobs without it. (A child is covered by its parent's mu, held since the check under it.)
  std::function<Status()> still_open;
  if (parent_id.empty()) {
    still_open = [this, ws = caller.workspace_id] { return halts_.CheckWorkspaceOpen(ws); };
  }
  Status st = co_await scheduler_.Admit(job, cs, still_open);
  locks.clear();
  if (!st) {
    for (const WorkerPtr& w : job->workers) w->job.reset();  // never published: drop
    job->workers.clear();
    budgets_.Abandon(admission);
    co_return st.error();
  }
  if (!job->waiting_on.empty()) {
    if (deps->failed) {
      std::vector<JobPtr> roots{job};
      std::string reason = "DEPENDENCY_FAILED";
      co_await CancelCascade(std::move(roots), std::move(reason));
    } else {
      co_await deps_.WaitFor(job);
    }
  }
  if (parent_live && !core::IsTerminalJobState(job->rec.status)) {
    // Still under the parent's mu, which nothing above gave up: the parent is active.
    job->parent = parent_live;
    parent_live->children.push_back(job);
  }
  budgets_.Linked(admission);
  parent_lock.Release();
  core::Job out = job->rec;
  ctx_.Forget(job);
  co_return out;
}
}  // namespace overseer::service
