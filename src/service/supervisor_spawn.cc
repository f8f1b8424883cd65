// Supervisor: spawning attempts of workers, their timeouts, and ending process trees.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "service/supervisor.h"
#include "service/supervisor_internal.h"

namespace overseer::service {
namespace asio = boost::asio;
namespace json = boost::json;
using core::WorkerEvent;
using core::WorkerState;
using internal::AwaitCallback;

namespace {

// The commit of the pids of started workers, which nobody waits for (`pids` lives until then).
asio::awaitable<void> WaitForPids(CommitQueue& commits, std::unique_ptr<store::ChangeSet> pids,
                                  std::shared_ptr<CommitQueue::Ticket> ticket) {
  Status s = co_await commits.Wait(std::move(ticket));
  if (!s) spdlog::error("recording the pids of started workers: {}", s.error().message);
  (void)pids;
}

}  // namespace

proc::SpawnSpec Supervisor::BuildSpawnSpec(const LiveWorker& w) const {
  const Runtime* runtime = w.job && w.job->task ? runtimes_.Find(w.job->task->runtime) : nullptr;
  if (runtime == nullptr) return proc::SpawnSpec{};  // no argv: the spawn fails (SPAWN_FAILED)
  proc::SpawnSpec spec = runtime->BuildSpawn(
      *w.job->task,
      AttemptContext{w.rec.id, LogPath(w.rec.id), options_.log_max_bytes, options_.base_env});
  spec.env.push_back("OVERSEER_URL=" + options_.daemon_url);
  spec.env.push_back("OVERSEER_JOB_ID=" + w.job->rec.id);
  spec.env.push_back("OVERSEER_WORKER_ID=" + w.rec.id);
  spec.env.push_back("OVERSEER_DEPTH=" + std::to_string(w.job->rec.depth));
  if (minter_) {
    std::string token = minter_(w.rec.workspace_id, w.job->rec.id, w.job->rec.depth);
    if (!token.empty()) spec.env.push_back("OVERSEER_TOKEN=" + token);
  }
  return spec;
}

Result<std::shared_ptr<proc::Process>> Supervisor::StartProcess(const WorkerPtr& w, int attempt) {
  proc::SpawnSpec spec = BuildSpawnSpec(*w);
  w->exit.reset();
  w->terminating = false;
  std::weak_ptr<LiveWorker> weak = w;
  proc::ProcessCallbacks callbacks;
  callbacks.on_exit = [this, weak, attempt](proc::ExitStatus st) {
    WorkerPtr wp = weak.lock();
    if (!wp) return;
    if (wp->rec.attempt == attempt || wp->rec.attempt == attempt - 1) wp->exit = st;
    ++counters_.workers_exited;
    ++workspace_counters_[wp->rec.workspace_id].workers_exited;
    if (wp->signal_waiter) wp->signal_waiter->cancel();
    tasks_.Spawn(internal::Discard(OnExit(wp, attempt)), "exit");
  };
  // Stops and continues, ours or anyone's: a waiting Pause looks again, and OnStopOrContinue
  // compares the record with the process once nobody else is changing the worker.
  auto on_stop_or_continue = [this, weak] {
    if (WorkerPtr wp = weak.lock()) {
      if (wp->signal_waiter) wp->signal_waiter->cancel();
      tasks_.Spawn(internal::Discard(OnStopOrContinue(wp)), "stop or continue");
    }
  };
  callbacks.on_stopped = on_stop_or_continue;
  callbacks.on_continued = on_stop_or_continue;
  if (spec.argv.empty()) return MakeError(ErrorCode::kInvalidRequest, "empty command");
  Result<std::shared_ptr<proc::Process>> p = procs_.Spawn(spec, std::move(callbacks));
  if (!p) {
    ++counters_.spawn_failures;
    ++workspace_counters_[w->rec.workspace_id].spawn_failures;
    spdlog::warn("worker {}: spawn failed: {}", w->rec.id, p.error().message);
    return p;
  }
  ++counters_.workers_spawned;
  ++workspace_counters_[w->rec.workspace_id].workers_spawned;
  return p;
}

void Supervisor::RecordProcess(core::Worker& r, const proc::Process& p) {
  r.pid = p.pid();
  r.pgid = p.pgid();
  r.cgroup_path = p.cgroup_path();
}

void Supervisor::ArmTimeout(const WorkerPtr& w) {
  StopTimeoutClock(*w);
  w->timeout_left.reset();
  const int64_t timeout_s = w->job ? w->job->rec.timeout_seconds : 0;
  if (timeout_s <= 0) return;
  w->timeout_left = std::chrono::seconds(timeout_s);
  StartTimeoutClock(w);
}

void Supervisor::StartTimeoutClock(const WorkerPtr& w) {
  if (!w->timeout_left || w->timeout_running) return;
  ++w->timeout_gen;
  w->timeout_running = true;
  w->timeout_started = std::chrono::steady_clock::now();
  w->timeout_timer = std::make_unique<asio::steady_timer>(io_, *w->timeout_left);
  const int attempt = w->rec.attempt;
  const uint64_t gen = w->timeout_gen;
  w->timeout_timer->async_wait([this, w, attempt, gen](boost::system::error_code ec) {
    if (ec) return;
    tasks_.Spawn(internal::Discard(OnTimeout(w, attempt, gen)), "timeout");
  });
}

void Supervisor::StopTimeoutClock(LiveWorker& w) {
  if (!w.timeout_running) return;
  ++w.timeout_gen;
  w.timeout_running = false;
  if (w.timeout_timer) w.timeout_timer->cancel();
  if (w.timeout_left) {
    auto ran = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - w.timeout_started);
    w.timeout_left = std::max(std::chrono::milliseconds(0), *w.timeout_left - ran);
  }
}

asio::awaitable<proc::MainState> Supervisor::AwaitStoppedOrGone(const WorkerPtr& w,
                                                                std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (!w->process || w->exit) co_return proc::MainState::kExited;
    const proc::MainState state = procs_.State(*w->process);
    if (state != proc::MainState::kRunning) co_return state;
    if (std::chrono::steady_clock::now() >= deadline) co_return state;
    // Woken by the next exit, stop or continue notification of the process (SIGCHLD), or
    // at the deadline: then the kernel is asked again.
    auto timer = std::make_shared<asio::steady_timer>(io_, deadline);
    w->signal_waiter = timer;
    (void)co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (w->signal_waiter == timer) w->signal_waiter.reset();
  }
}

asio::awaitable<Status> Supervisor::Spawn(const WorkerPtr& w) {
  std::shared_ptr<LiveJob> job = w->job;
  ScopedLock job_lock;
  if (job) job_lock = co_await ScopedLock::Acquire(job->mu);
  const bool respawn = w->rec.status == WorkerState::kRetrying;
  const WorkerEvent event = respawn ? WorkerEvent::kRespawned : WorkerEvent::kSpawned;
  const char* reason = respawn ? "RESPAWNED" : "SPAWNED";
  Result<WorkerState> legal = core::NextWorkerState(w->rec.status, event);
  if (!legal) co_return legal.error();
  if (job && core::IsTerminalJobState(job->rec.status)) {
    // Nothing starts for a job that has ended; its end terminates this worker.
    Error e = MakeError(ErrorCode::kInvalidStateTransition,
                        "job is " + std::string(core::JobStateName(job->rec.status)) +
                            ": its workers are not started again");
    e.With("worker_id", w->rec.id).With("job_id", job->rec.id);
    co_return e;
  }
  // A worker runs on a slot; one that starts again keeps the slot it held while it waited
  // (RETRYING). One that has none (recovered without it) takes one with its start.
  if (NeedsSlot(*w)) TakeSlotFor(*w);
  const int attempt = w->rec.attempt + 1;
  Result<std::shared_ptr<proc::Process>> p = StartProcess(w, attempt);
  const TimeMs now = clock_.NowMs();
  Result<bool> changed = false;
  if (!p) {
    // The record shows an attempt that ran and failed at once: RUNNING, then FAILED.
    changed = co_await TransitionHeld(w, event, reason,
                                      [&](core::Worker& r) { core::RecordStart(r, attempt, now); });
  } else {
    w->process = *p;
    changed = co_await TransitionHeld(w, event, reason, [&](core::Worker& r) {
      core::RecordStart(r, attempt, now);
      RecordProcess(r, **p);
    });
  }
  if (!changed) {
    ReturnUnusedSlot(*w);
    if (p) {
      // The record could not say RUNNING: do not leave an unrecorded process behind.
      spdlog::error("worker {}: could not record spawn: {}", w->rec.id, changed.error().message);
      co_await KillTree(w, std::chrono::milliseconds(0));
      w->process.reset();
    }
    co_return changed.error();
  }
  if (p) ArmTimeout(w);
  job_lock.Release();
  if (*changed) AfterJobChange(job);
  if (!p) co_return co_await Fail(w, "SPAWN_FAILED", std::nullopt);
  co_return OkStatus();
}

asio::awaitable<Result<std::vector<Supervisor::WorkerPtr>>> Supervisor::StartWorkersHeld(
    const std::shared_ptr<LiveJob>& job, const std::vector<WorkerPtr>& to_start,
    store::ChangeSet& cs) {
  const TimeMs now = clock_.NowMs();
  const std::string ws = job->rec.workspace_id;
  const int depth = job->rec.depth;
  const int slots = static_cast<int>(to_start.size());
  // Planned on copies of the rows, each worker's plan seeing the ones before it RUNNING;
  // memory follows once the commit has succeeded.
  std::vector<core::Worker> rows;
  rows.reserve(job->workers.size());
  for (const WorkerPtr& s : job->workers) rows.push_back(s->rec);
  std::vector<const core::Worker*> row_ptrs;
  for (const core::Worker& r : rows) row_ptrs.push_back(&r);
  core::Job job_row = job->rec;
  std::vector<core::WorkerPlan> plans;
  std::vector<core::Allocation> allocations;
  for (const WorkerPtr& w : to_start) {
    const size_t i = static_cast<size_t>(std::find(job->workers.begin(), job->workers.end(), w) -
                                         job->workers.begin());
    core::WorkerSubject subject{rows[i], &job_row, row_ptrs, !job->children.empty(), false};
    Result<core::WorkerPlan> plan = core::PlanWorkerTransition(
        subject, WorkerEvent::kSpawned, "SPAWNED",
        [&](core::Worker& r) { core::RecordStart(r, 1, now); }, now);
    if (!plan) {
      ReleaseSlots(ws, depth, slots);
      co_return plan.error();
    }
    rows[i] = plan->final_row();
    if (plan->job) job_row = plan->job->row;
    allocations.push_back(NewAllocation(*job, w->rec.id, now));
    cs.new_allocations.push_back(allocations.back());
    AddPlanRows(*plan, cs);
    plans.push_back(std::move(*plan));
  }
  // The start is written while the processes spawn (the two are the bulk of a submit and use
  // different threads): each worker's record says RUNNING at attempt 1 with no pid yet, and
  // the pids follow in the next commit. A crash in between is safe either way: a record
  // without its process is failed by Recover (SUPERVISOR_RESTART), a process without its
  // record is a leftover that KillLeftovers ends.
  std::shared_ptr<CommitQueue::Ticket> commit = commits_.Start(cs);
  std::vector<WorkerPtr> started;
  std::vector<WorkerPtr> not_started;
  auto pids = std::make_unique<store::ChangeSet>();
  for (const WorkerPtr& w : to_start) {
    Result<std::shared_ptr<proc::Process>> p = StartProcess(w, 1);
    if (!p) {
      not_started.push_back(w);
      continue;
    }
    w->process = *p;
    pids->worker_processes.push_back(store::WorkerProcess{
        w->rec.id, w->rec.workspace_id, 1, (*p)->pid(), (*p)->pgid(), (*p)->cgroup_path()});
    started.push_back(w);
  }
  Status st = co_await commits_.Wait(std::move(commit));
  if (!st) {
    for (const WorkerPtr& w : started) {
      co_await KillTree(w, std::chrono::milliseconds(0));
      w->process.reset();
      w->terminating = false;
    }
    ReleaseSlots(ws, depth, slots);
    co_return st.error();
  }
  for (size_t k = 0; k < to_start.size(); ++k) {
    const WorkerPtr& w = to_start[k];
    w->new_allocation = allocations[k];
    CommitPlanned(*w, std::move(plans[k]));
    if (w->process) RecordProcess(w->rec, *w->process);
  }
  bus_.Publish(cs.events);
  if (!pids->worker_processes.empty()) {
    // Queued now, ahead of anything these workers do next; nobody waits for the answer.
    std::shared_ptr<CommitQueue::Ticket> ticket = commits_.Start(*pids);
    tasks_.Spawn(WaitForPids(commits_, std::move(pids), std::move(ticket)), "record pids");
  }
  for (const WorkerPtr& w : started) ArmTimeout(w);
  co_return not_started;
}

asio::awaitable<Status> Supervisor::SpawnNewJob(const std::shared_ptr<LiveJob>& job,
                                                store::ChangeSet& cs) {
  auto job_lock = co_await ScopedLock::Acquire(job->mu);
  const std::string ws = job->rec.workspace_id;
  const int depth = job->rec.depth;
  const int slots = static_cast<int>(job->workers.size());
  const bool waits_for_jobs = !job->waiting_on.empty();
  if (waits_for_jobs || queued_.count({ws, depth}) != 0 || !quotas_.Fits(ws, depth, slots)) {
    // Dependencies not done, or no slots (or jobs ahead of it waiting for some): recorded
    // PENDING with IDLE workers. A job waiting for slots is queued, and ScheduleQueued starts
    // it when slots are released or the quota grows; one waiting for jobs is queued when the
    // last of them completes (AfterDependencyEnded).
    job->rec.status_reason = waits_for_jobs ? "WAITING_FOR_DEPENDENCIES" : "WAITING_FOR_QUOTA";
    for (core::Job& j : cs.new_jobs) {
      if (j.id == job->rec.id) j.status_reason = job->rec.status_reason;
    }
    Status st = co_await commits_.Commit(cs);
    if (!st) co_return st;
    ++counters_.jobs_submitted;
    ++workspace_counters_[ws].jobs_submitted;
    jobs_[job->rec.id] = job;
    for (const WorkerPtr& w : job->workers) workers_[w->rec.id] = w;
    if (!waits_for_jobs) queued_[{ws, depth}].push_back(job);
    bus_.Publish(cs.events);
    co_return OkStatus();
  }
  quotas_.Take(ws, depth, slots);
  Result<std::vector<WorkerPtr>> not_started = co_await StartWorkersHeld(job, job->workers, cs);
  if (!not_started) co_return not_started.error();
  ++counters_.jobs_submitted;
  ++workspace_counters_[job->rec.workspace_id].jobs_submitted;
  jobs_[job->rec.id] = job;
  for (const WorkerPtr& w : job->workers) workers_[w->rec.id] = w;
  job_lock.Release();
  // Workers whose process could not start: an attempt that failed at once (RUNNING, FAILED).
  for (const WorkerPtr& w : *not_started) {
    Status s = co_await Fail(w, "SPAWN_FAILED", std::nullopt);
    if (!s) spdlog::error("worker {}: {}", w->rec.id, s.error().message);
  }
  // (A job those failures end was handed to AfterJobChange by their Transition.)
  co_return OkStatus();
}

asio::awaitable<void> Supervisor::KillTree(const WorkerPtr& w, std::chrono::milliseconds grace) {
  if (!w->process) co_return;
  w->terminating = true;
  std::shared_ptr<proc::Process> p = w->process;
  co_await AwaitCallback(
      [&](std::function<void()> done) { procs_.Terminate(p, grace, std::move(done)); });
}
}  // namespace overseer::service
