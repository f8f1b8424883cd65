// WorkerRunner: transitions (plan, commit, memory, publish), failures and retries, and
// terminating workers.
#include "service/worker_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "service/coroutines.h"
#include "service/halts.h"
#include "service/job_operations.h"
#include "service/scheduler.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::WorkerEvent;
using core::WorkerState;

namespace {

// How long UndoResume waits for the kernel to report the process stopped again.
constexpr std::chrono::milliseconds kStopAgainWait{1000};

double Random01() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::vector<const core::Worker*> SiblingRows(const LiveWorker& w) {
  if (!w.job) return {};
  return JobRows(*w.job);
}

}  // namespace

void WorkerRunner::RecordEnd(core::Worker& r, TimeMs now,
                             const std::optional<proc::ExitStatus>& exit) {
  if (r.started_at != 0) r.ended_at = now;  // an IDLE worker never started: no end either
  if (!exit) return;
  if (exit->term_signal == 0) {
    r.exit_code = exit->exit_code;
  } else {
    r.exit_signal = exit->term_signal;
  }
}

void WorkerRunner::AddPlanRows(const core::WorkerPlan& plan, store::ChangeSet& cs) {
  for (const core::WorkerChange& c : plan.changes) {
    cs.worker_updates.push_back(store::WorkerUpdate{c.row, c.from, c.transition});
  }
  if (plan.job) cs.job_updates.push_back(store::JobUpdate{plan.job->row, plan.job->from});
  cs.events.insert(cs.events.end(), plan.events.begin(), plan.events.end());
}

void WorkerRunner::AddPlan(const LiveWorker& w, const core::WorkerPlan& plan, TimeMs now,
                           store::ChangeSet& cs) {
  if (plan.releases_slot) {
    cs.released_allocations.push_back(
        store::AllocationRelease{w.allocation_id, w.rec.workspace_id, now});
  }
  if (w.new_allocation) {
    cs.new_allocations.push_back(*w.new_allocation);
    // Once per (workspace, depth) in a ChangeSet of several workers (an unhalt).
    const std::optional<store::SlotLimit>& limit = w.new_allocation_limit;
    if (limit &&
        std::none_of(cs.slot_limits.begin(), cs.slot_limits.end(), [&](const store::SlotLimit& l) {
          return l.workspace_id == limit->workspace_id && l.depth == limit->depth;
        })) {
      cs.slot_limits.push_back(*limit);
    }
  }
  AddPlanRows(plan, cs);
}

bool WorkerRunner::CommitPlanned(LiveWorker& w, core::WorkerPlan&& plan) {
  w.rec = plan.final_row();
  if (w.history_complete) {
    for (core::WorkerChange& c : plan.changes) w.history.push_back(std::move(c.transition));
  }
  if (plan.releases_slot) {
    w.allocation_id.clear();
    if (w.job) scheduler_.ReleaseSlots(w.rec.workspace_id, w.job->rec.depth, 1);
  }
  if (w.new_allocation) {
    w.allocation_id = w.new_allocation->id;
    w.new_allocation.reset();
    w.new_allocation_limit.reset();
  }
  if (!plan.job || !w.job) return false;
  w.job->rec = std::move(plan.job->row);
  return true;
}

asio::awaitable<Result<bool>> WorkerRunner::TransitionHeld(
    const WorkerPtr& w, WorkerEvent event, std::string reason,
    const std::function<void(core::Worker&)>& mutate) {
  const TimeMs now = ctx_.clock.NowMs();
  std::vector<const core::Worker*> siblings = SiblingRows(*w);
  Result<core::WorkerPlan> plan =
      core::PlanWorkerTransition(Subject(*w, siblings), event, reason, mutate, now);
  if (!plan) co_return plan.error();
  co_return co_await CommitPlan(*w, std::move(*plan), now);
}

asio::awaitable<Status> WorkerRunner::TransitionManyHeld(std::vector<WorkerPtr> workers,
                                                         WorkerEvent event, std::string reason) {
  const TimeMs now = ctx_.clock.NowMs();
  store::ChangeSet cs;
  std::vector<core::WorkerPlan> plans;
  plans.reserve(workers.size());
  for (const WorkerPtr& w : workers) {
    // Planned against the siblings as memory has them (the moves before this one are not
    // there yet): right only because none of these moves changes the job.
    std::vector<const core::Worker*> siblings = SiblingRows(*w);
    Result<core::WorkerPlan> plan =
        core::PlanWorkerTransition(Subject(*w, siblings), event, reason, nullptr, now);
    if (!plan) co_return plan.error();
    if (plan->job) {
      co_return MakeError(ErrorCode::kInvalidStateTransition,
                          "a move of several workers at once must leave their job as it is");
    }
    // Every row written carries its agent record as of now (as CommitPlan's do).
    for (core::WorkerChange& c : plan->changes) {
      if (c.row.id == w->rec.id) SyncAgentRow(*w, c.row);
    }
    AddPlan(*w, *plan, now, cs);
    plans.push_back(std::move(*plan));
  }
  if (plans.empty()) co_return OkStatus();
  Status st = co_await ctx_.commits.Commit(cs);
  if (!st) co_return st;
  for (size_t i = 0; i < workers.size(); ++i) CommitPlanned(*workers[i], std::move(plans[i]));
  ctx_.bus.Publish(cs.events);
  co_return OkStatus();
}

asio::awaitable<void> WorkerRunner::UndoResume(const WorkerPtr& w) {
  // Stopped first, then the slot given back: a queued job that gets it does not run beside it.
  if (w->process && ctx_.procs.Pause(*w->process)) {
    const proc::MainState state = co_await AwaitStoppedOrGone(w, kStopAgainWait);
    if (state == proc::MainState::kRunning) {
      spdlog::warn("worker {}: not stopped {} ms after SIGSTOP (resume undone)", w->rec.id,
                   kStopAgainWait.count());
    }
  }
  // A process that is gone meanwhile: OnExit records its end (EXITED_WHILE_PAUSED).
  scheduler_.ReturnUnusedSlot(*w);
}

asio::awaitable<Result<bool>> WorkerRunner::CommitPlan(LiveWorker& w, core::WorkerPlan plan,
                                                       TimeMs now) {
  // Every row of `w` written carries its agent record as of now.
  for (core::WorkerChange& c : plan.changes) {
    if (c.row.id == w.rec.id) SyncAgentRow(w, c.row);
  }
  store::ChangeSet cs;
  AddPlan(w, plan, now, cs);
  Status st = co_await ctx_.commits.Commit(
      cs, w.recording_end ? Durability::kUntilWritten : Durability::kAnswerNow);
  if (!st) co_return st.error();
  const bool job_changed = CommitPlanned(w, std::move(plan));
  ctx_.bus.Publish(cs.events);
  co_return job_changed;
}

asio::awaitable<Status> WorkerRunner::Transition(const WorkerPtr& w, WorkerEvent event,
                                                 std::string reason,
                                                 const std::function<void(core::Worker&)>& mutate) {
  JobPtr job = w->job;
  ScopedLock job_lock;
  if (job) job_lock = co_await ScopedLock::Acquire(job->mu);
  Result<bool> changed = co_await TransitionHeld(w, event, std::move(reason), mutate);
  if (!changed) co_return changed.error();
  if (*changed) {
    job_lock.Release();
    job_ops_.AfterJobChange(job);
  }
  co_return OkStatus();
}

asio::awaitable<Status> WorkerRunner::Fail(const WorkerPtr& w, std::string reason,
                                           std::optional<proc::ExitStatus> exit) {
  // Under the job's mu: whether a retry is left depends on the job not having ended, and that
  // must not change between the decision and its commit.
  JobPtr job = w->job;
  ScopedLock job_lock;
  if (job) job_lock = co_await ScopedLock::Acquire(job->mu);
  const TimeMs now = ctx_.clock.NowMs();
  auto record_exit = [&](core::Worker& r) { RecordEnd(r, now, exit); };
  // Nothing respawns inside a halted subtree (SPEC §11).
  const bool retry_left = job && w->rec.attempt < job->rec.retry.max_attempts &&
                          core::IsActiveJobState(job->rec.status) && !ctx_.shutting_down &&
                          HaltedAt(*job) == nullptr;
  std::optional<int64_t> retry_in_ms;
  if (retry_left) retry_in_ms = core::BackoffMs(job->rec.retry, w->rec.attempt, Random01());
  std::vector<const core::Worker*> siblings = SiblingRows(*w);
  Result<core::WorkerPlan> plan =
      core::PlanFailure(Subject(*w, siblings), reason, record_exit, retry_in_ms, now);
  if (!plan) co_return plan.error();
  Result<bool> job_changed = co_await CommitPlan(*w, std::move(*plan), now);
  if (!job_changed) co_return job_changed.error();
  if (*job_changed) {
    job_lock.Release();
    job_ops_.AfterJobChange(job);
  }
  if (!retry_in_ms) co_return OkStatus();
  w->retry_timer =
      std::make_unique<asio::steady_timer>(ctx_.io, std::chrono::milliseconds(*retry_in_ms));
  const int attempt = w->rec.attempt;
  w->retry_timer->async_wait([this, w, attempt](boost::system::error_code ec) {
    if (ec) return;
    ctx_.tasks.Spawn(internal::Discard(OnRetryDue(w, attempt)), "retry");
  });
  co_return OkStatus();
}

asio::awaitable<Status> WorkerRunner::Terminate(WorkerPtr w, std::chrono::milliseconds grace,
                                                std::string reason) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  Result<WorkerState> next = core::NextWorkerState(w->rec.status, WorkerEvent::kTerminate);
  if (!next) {
    Error e = next.error();
    e.With("worker_id", w->rec.id);
    co_return e;
  }
  if (w->retry_timer) w->retry_timer->cancel();
  StopTimeoutClock(*w);
  co_await KillTree(w, grace);
  w->process.reset();
  const TimeMs now = ctx_.clock.NowMs();
  const std::optional<proc::ExitStatus> exit = w->exit;
  Status s = co_await Transition(w, WorkerEvent::kTerminate, reason,
                                 [&](core::Worker& r) { RecordEnd(r, now, exit); });
  w->terminating = false;
  lock.Release();
  if (w->job) ctx_.Forget(w->job);
  co_return s;
}

asio::awaitable<void> WorkerRunner::TerminateAll(std::vector<WorkerPtr> workers,
                                                 std::chrono::milliseconds grace,
                                                 std::string reason) {
  if (workers.empty()) co_return;
  auto remaining = std::make_shared<size_t>(workers.size());
  auto timer = std::make_shared<asio::steady_timer>(ctx_.io, asio::steady_timer::time_point::max());
  for (const WorkerPtr& w : workers) {
    ctx_.tasks.Spawn(internal::CountDown(Terminate(w, grace, reason), remaining, timer),
                     "terminate");
  }
  if (*remaining > 0) (void)co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> WorkerRunner::KillTree(const WorkerPtr& w, std::chrono::milliseconds grace) {
  if (!w->process) co_return;
  w->terminating = true;
  std::shared_ptr<proc::Process> p = w->process;
  co_await internal::AwaitCallback(
      [&](std::function<void()> done) { ctx_.procs.Terminate(p, grace, std::move(done)); });
}
}  // namespace overseer::service
