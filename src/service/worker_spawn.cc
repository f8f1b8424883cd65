// WorkerRunner: spawning attempts (one worker, or the workers of a job that starts), their
// processes and spawn specs, and the timeout clock.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "service/budgets.h"
#include "service/coroutines.h"
#include "service/job_operations.h"
#include "service/scheduler.h"
#include "service/worker_agent.h"
#include "service/worker_runner.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::WorkerEvent;
using core::WorkerState;

namespace {

// The commit of the pids of started workers, which nobody waits for (`pids` lives until then).
asio::awaitable<void> WaitForPids(CommitQueue& commits, std::unique_ptr<store::ChangeSet> pids,
                                  std::shared_ptr<CommitQueue::Ticket> ticket) {
  Status s = co_await commits.Wait(std::move(ticket));
  if (!s) spdlog::error("recording the pids of started workers: {}", s.error().message);
  (void)pids;
}

}  // namespace

proc::SpawnSpec WorkerRunner::BuildSpawnSpec(const LiveWorker& w, const Runtime* runtime,
                                             int attempt, const AgentAttempt& agent) const {
  if (runtime == nullptr) return proc::SpawnSpec{};  // no argv: the spawn fails (SPAWN_FAILED)
  AttemptContext attempt_ctx;
  attempt_ctx.unit_name = w.rec.id;
  attempt_ctx.log_path = ctx_.LogPath(w.rec.id);
  attempt_ctx.log_max_bytes = ctx_.options.log_max_bytes;
  attempt_ctx.base_env = ctx_.options.base_env;
  attempt_ctx.attempt = attempt;
  attempt_ctx.resume_session = agent.resume_session;
  attempt_ctx.new_session_id = agent.new_session_id;
  // claude's own cap, a backstop under the subtree budgets: what they have left (a cent at
  // least: a spent subtree is halted, not started).
  if (std::optional<double> left = UsdLeftFor(*w.job)) {
    attempt_ctx.max_budget_usd = std::max(*left, 0.01);
  }
  proc::SpawnSpec spec = runtime->BuildSpawn(*w.job->task, attempt_ctx);
  spec.env.push_back("OVERSEER_URL=" + ctx_.options.daemon_url);
  spec.env.push_back("OVERSEER_JOB_ID=" + w.job->rec.id);
  spec.env.push_back("OVERSEER_WORKER_ID=" + w.rec.id);
  spec.env.push_back("OVERSEER_DEPTH=" + std::to_string(w.job->rec.depth));
  if (ctx_.minter) {
    std::string token = ctx_.minter(w.rec.workspace_id, w.job->rec.id, w.job->rec.depth);
    if (!token.empty()) spec.env.push_back("OVERSEER_TOKEN=" + token);
  }
  return spec;
}

Result<std::shared_ptr<proc::Process>> WorkerRunner::StartProcess(const WorkerPtr& w, int attempt) {
  const Runtime* runtime =
      w->job && w->job->task ? ctx_.runtimes.Find(w->job->task->runtime) : nullptr;
  const AgentAttempt agent =
      runtime != nullptr ? BeginAgentAttempt(*w, *runtime, attempt) : AgentAttempt{};
  proc::SpawnSpec spec = BuildSpawnSpec(*w, runtime, attempt, agent);
  w->exit.reset();
  w->terminating = false;
  std::weak_ptr<LiveWorker> weak = w;
  proc::ProcessCallbacks callbacks;
  callbacks.on_exit = [this, weak, attempt](proc::ExitStatus st) {
    WorkerPtr wp = weak.lock();
    if (!wp) return;
    if (wp->rec.attempt == attempt || wp->rec.attempt == attempt - 1) wp->exit = st;
    ctx_.throughput.Count(Tally::kWorkersExited, wp->rec.workspace_id);
    if (wp->signal_waiter) wp->signal_waiter->cancel();
    ctx_.tasks.Spawn(internal::Discard(OnExit(wp, attempt)), "exit");
  };
  // Stops and continues, ours or anyone's: a waiting Pause looks again, and OnStopOrContinue
  // compares the record with the process once nobody else is changing the worker.
  auto on_stop_or_continue = [this, weak] {
    if (WorkerPtr wp = weak.lock()) {
      if (wp->signal_waiter) wp->signal_waiter->cancel();
      ctx_.tasks.Spawn(internal::Discard(OnStopOrContinue(wp)), "stop or continue");
    }
  };
  callbacks.on_stopped = on_stop_or_continue;
  callbacks.on_continued = on_stop_or_continue;
  if (w->parser || (w->job && w->job->rec.stall_seconds > 0)) {
    // Each line restarts the stall clock; an agent's stream is parsed as it arrives.
    callbacks.on_output = [this, weak, attempt](std::string_view line) {
      WorkerPtr wp = weak.lock();
      if (!wp || wp->rec.attempt > attempt) return;
      if (wp->stall_running) wp->stall_since = std::chrono::steady_clock::now();
      // Usage is charged up the job tree per message, as it arrives (budgets).
      const UsageDelta used = FeedAgentOutput(*wp, attempt, line);
      if (!used.empty() && ctx_.charge_usage) ctx_.charge_usage(*wp, used);
    };
  }
  if (spec.argv.empty()) return MakeError(ErrorCode::kInvalidRequest, "empty command");
  Result<std::shared_ptr<proc::Process>> p = ctx_.procs.Spawn(spec, std::move(callbacks));
  if (!p) {
    ctx_.throughput.Count(Tally::kSpawnFailures, w->rec.workspace_id);
    spdlog::warn("worker {}: spawn failed: {}", w->rec.id, p.error().message);
    return p;
  }
  ctx_.throughput.Count(Tally::kWorkersSpawned, w->rec.workspace_id);
  return p;
}

void WorkerRunner::RecordProcess(core::Worker& r, const proc::Process& p) {
  r.pid = p.pid();
  r.pgid = p.pgid();
  r.cgroup_path = p.cgroup_path();
}

asio::awaitable<Status> WorkerRunner::Spawn(const WorkerPtr& w) {
  JobPtr job = w->job;
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
  // (RETRYING): its respawn writes no allocation, so there is no quota to check. One that has
  // none (recovered without it) takes one with its start, over the quota if need be, as the
  // book does (no SlotLimit: the database does not refuse it either).
  if (NeedsSlot(*w)) scheduler_.TakeSlotFor(*w);
  const int attempt = w->rec.attempt + 1;
  Result<std::shared_ptr<proc::Process>> p = StartProcess(w, attempt);
  const TimeMs now = ctx_.clock.NowMs();
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
    scheduler_.ReturnUnusedSlot(*w);
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
  if (*changed) job_ops_.AfterJobChange(job);
  if (!p) co_return co_await Fail(w, "SPAWN_FAILED", std::nullopt);
  co_return OkStatus();
}

asio::awaitable<Result<std::vector<WorkerPtr>>> WorkerRunner::StartWorkers(
    const JobPtr& job, const std::vector<WorkerPtr>& to_start, store::ChangeSet& cs) {
  const TimeMs now = ctx_.clock.NowMs();
  const std::string ws = job->rec.workspace_id;
  const int depth = job->rec.depth;
  const int slots = static_cast<int>(to_start.size());
  // Planned on copies of the rows, each worker's plan seeing the ones before it RUNNING;
  // memory follows once the commit has succeeded.
  std::vector<core::Worker> rows;
  rows.reserve(job->workers.size());
  for (const WorkerPtr& s : job->workers) rows.push_back(s->rec);
  std::vector<const core::Worker*> row_ptrs;
  row_ptrs.reserve(rows.size());
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
        [&](core::Worker& r) {
          core::RecordStart(r, 1, now);
          SyncAgentRow(*w, r);
        },
        now);
    if (!plan) {
      scheduler_.ReleaseSlots(ws, depth, slots);
      co_return plan.error();
    }
    rows[i] = plan->final_row();
    if (plan->job) job_row = plan->job->row;
    allocations.push_back(NewAllocation(*job, w->rec.id, now));
    cs.new_allocations.push_back(allocations.back());
    AddPlanRows(*plan, cs);
    plans.push_back(std::move(*plan));
  }
  cs.slot_limits.push_back(scheduler_.SlotLimitOf(ws, depth));
  // The start is written while the processes spawn (the two are the bulk of a submit and use
  // different threads): each worker's record says RUNNING at attempt 1 with no pid yet, and
  // the pids follow in the next commit. A crash in between is safe either way: a record
  // without its process is failed by Recover (SUPERVISOR_RESTART), a process without its
  // record is a leftover that KillLeftovers ends.
  std::shared_ptr<CommitQueue::Ticket> commit = ctx_.commits.Start(cs);
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
  Status st = co_await ctx_.commits.Wait(std::move(commit));
  if (!st) {
    for (const WorkerPtr& w : started) {
      co_await KillTree(w, std::chrono::milliseconds(0));
      w->process.reset();
      w->terminating = false;
    }
    scheduler_.ReleaseSlots(ws, depth, slots);
    co_return st.error();
  }
  for (size_t k = 0; k < to_start.size(); ++k) {
    const WorkerPtr& w = to_start[k];
    w->new_allocation = allocations[k];
    CommitPlanned(*w, std::move(plans[k]));
    if (w->process) RecordProcess(w->rec, *w->process);
  }
  ctx_.bus.Publish(cs.events);
  if (!pids->worker_processes.empty()) {
    // Queued now, ahead of anything these workers do next; nobody waits for the answer.
    std::shared_ptr<CommitQueue::Ticket> ticket = ctx_.commits.Start(*pids);
    ctx_.tasks.Spawn(WaitForPids(ctx_.commits, std::move(pids), std::move(ticket)), "record pids");
  }
  for (const WorkerPtr& w : started) ArmTimeout(w);
  co_return not_started;
}

void WorkerRunner::ArmTimeout(const WorkerPtr& w) {
  StopTimeoutClock(*w);
  w->timeout_left.reset();
  w->stall_elapsed = std::chrono::milliseconds(0);
  const int64_t timeout_s = w->job ? w->job->rec.timeout_seconds : 0;
  if (timeout_s > 0) w->timeout_left = std::chrono::seconds(timeout_s);
  StartTimeoutClock(w);
}

void WorkerRunner::StartTimeoutClock(const WorkerPtr& w) {
  StartStallClock(w);
  if (!w->timeout_left || w->timeout_running) return;
  ++w->timeout_gen;
  w->timeout_running = true;
  w->timeout_started = std::chrono::steady_clock::now();
  w->timeout_timer = std::make_unique<asio::steady_timer>(ctx_.io, *w->timeout_left);
  const int attempt = w->rec.attempt;
  const uint64_t gen = w->timeout_gen;
  w->timeout_timer->async_wait([this, w, attempt, gen](boost::system::error_code ec) {
    if (ec) return;
    ctx_.tasks.Spawn(internal::Discard(OnTimeout(w, attempt, gen)), "timeout");
  });
}

void WorkerRunner::StopTimeoutClock(LiveWorker& w) {
  StopStallClock(w);
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

void WorkerRunner::StartStallClock(const WorkerPtr& w) {
  const int64_t stall_s = w->job ? w->job->rec.stall_seconds : 0;
  if (stall_s <= 0 || w->stall_running) return;
  ++w->stall_gen;
  w->stall_running = true;
  w->stall_since = std::chrono::steady_clock::now() - w->stall_elapsed;
  ArmStallTimer(w, std::chrono::seconds(stall_s) - w->stall_elapsed);
}

void WorkerRunner::ArmStallTimer(const WorkerPtr& w, std::chrono::milliseconds after) {
  // One timer per stall period, not per line: when it fires it looks at the last line's time
  // and waits again for what is left (OnStall).
  w->stall_timer =
      std::make_unique<asio::steady_timer>(ctx_.io, std::max(after, std::chrono::milliseconds(1)));
  const int attempt = w->rec.attempt;
  const uint64_t gen = w->stall_gen;
  w->stall_timer->async_wait([this, w, attempt, gen](boost::system::error_code ec) {
    if (ec) return;
    ctx_.tasks.Spawn(internal::Discard(OnStall(w, attempt, gen)), "stall");
  });
}

void WorkerRunner::StopStallClock(LiveWorker& w) {
  if (!w.stall_running) return;
  ++w.stall_gen;
  w.stall_running = false;
  if (w.stall_timer) w.stall_timer->cancel();
  w.stall_elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - w.stall_since);
}

asio::awaitable<proc::MainState> WorkerRunner::AwaitStoppedOrGone(const WorkerPtr& w,
                                                                  std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (!w->process || w->exit) co_return proc::MainState::kExited;
    const proc::MainState state = ctx_.procs.State(*w->process);
    if (state != proc::MainState::kRunning) co_return state;
    if (std::chrono::steady_clock::now() >= deadline) {
      w->stop_unconfirmed = true;  // every caller records (or keeps) PAUSED regardless
      co_return state;
    }
    // Woken by the next exit, stop or continue notification of the process (SIGCHLD), or
    // at the deadline: then the kernel is asked again.
    auto timer = std::make_shared<asio::steady_timer>(ctx_.io, deadline);
    w->signal_waiter = timer;
    (void)co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (w->signal_waiter == timer) w->signal_waiter.reset();
  }
}
}  // namespace overseer::service
