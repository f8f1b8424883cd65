#include "service/worker_commands.h"

#include <spdlog/spdlog.h>

#include "service/access.h"
#include "service/coroutines.h"
#include "service/halts.h"
#include "service/job_operations.h"
#include "service/scheduler.h"
#include "service/worker_runner.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::WorkerEvent;
using core::WorkerState;

namespace {
// How long a pause waits for the kernel to report the process stopped (or gone).
constexpr std::chrono::milliseconds kPauseConfirmWait{1000};
}  // namespace

asio::awaitable<Result<WorkerCommands::Held>> WorkerCommands::HoldFor(const Caller& caller,
                                                                      const std::string& id,
                                                                      WorkerEvent event) {
  WorkerPtr w = ctx_.FindWorker(caller.workspace_id, id);
  if (!w) co_return co_await access_.NotLiveError(caller, id, event);
  ScopedLock lock = co_await ScopedLock::Acquire(w->mu);
  Result<WorkerState> next = core::NextWorkerState(w->rec.status, event);
  if (!next) {
    Error e = next.error();
    e.With("worker_id", id);
    co_return e;
  }
  co_return Held{std::move(w), std::move(lock)};
}

asio::awaitable<Result<core::Worker>> WorkerCommands::Pause(Caller caller, std::string id) {
  Result<Held> held = co_await HoldFor(caller, id, WorkerEvent::kPause);
  if (!held) co_return held.error();
  const WorkerPtr& w = held->worker;
  if (!w->process) {
    // Legal for the state machine, but there is no process to stop (yet, or any more): the
    // same 409 as an illegal transition, with the worker's real current state.
    const std::string current(core::WorkerStateName(w->rec.status));
    const std::string requested(core::WorkerStateName(core::RequestedState(WorkerEvent::kPause)));
    Error e =
        MakeError(ErrorCode::kInvalidStateTransition,
                  "cannot go from " + current + " to " + requested + ": the worker has no process");
    e.With("current_state", current).With("requested_state", requested).With("worker_id", id);
    co_return e;
  }
  // The record says PAUSED once the kernel says the process stopped; if it exits instead (a
  // pause racing the exit), the pause answers 409 and the record says how it ended.
  Status sig = ctx_.procs.Pause(*w->process);
  if (!sig && sig.error().code != ErrorCode::kInvalidStateTransition) co_return sig.error();
  proc::MainState state = proc::MainState::kExited;
  if (sig) state = co_await runner_.AwaitStoppedOrGone(w, kPauseConfirmWait);
  if (state == proc::MainState::kExited) {
    const std::string current(core::WorkerStateName(w->rec.status));
    Error e = MakeError(ErrorCode::kInvalidStateTransition,
                        "the process exited before it could be paused; its exit is being "
                        "recorded: read the worker again");
    e.With("current_state", current).With("requested_state", "PAUSED").With("worker_id", id);
    co_return e;
  }
  if (state == proc::MainState::kRunning) {
    // Not stopped yet (e.g. in an uninterruptible sleep): the SIGSTOP stays pending and takes
    // effect when it returns to user space.
    spdlog::warn("worker {}: not stopped {} ms after SIGSTOP; recorded PAUSED", id,
                 kPauseConfirmWait.count());
  }
  runner_.StopTimeoutClock(*w);
  Status s = co_await runner_.Transition(w, WorkerEvent::kPause, "PAUSE_REQUESTED", nullptr);
  if (!s) {
    runner_.StartTimeoutClock(w);
    co_return s.error();
  }
  co_return w->rec;
}

asio::awaitable<Result<core::Worker>> WorkerCommands::Resume(Caller caller, std::string id) {
  Result<Held> held = co_await HoldFor(caller, id, WorkerEvent::kResume);
  if (!held) co_return held.error();
  const WorkerPtr& w = held->worker;
  // Under the job's mu through the commit: a worker of a job that has ended is not run again
  // (the job's end terminates it).
  JobPtr job = w->job;
  ScopedLock job_lock;
  if (job) job_lock = co_await ScopedLock::Acquire(job->mu);
  // Nothing runs again inside a halted subtree until its unhalt (which clears the halt
  // before it resumes what the halt paused).
  if (const LiveJob* halted = job ? HaltedAt(*job) : nullptr) {
    Error e =
        HaltedError(halted->rec, "the worker's job is inside a halted subtree: unhalt it first");
    e.With("worker_id", id);
    co_return e;
  }
  if (job && core::IsTerminalJobState(job->rec.status)) {
    const std::string state(core::JobStateName(job->rec.status));
    Error e = MakeError(ErrorCode::kInvalidStateTransition,
                        "its job is " + state + ": the worker is being ended, not resumed");
    e.With("current_state", std::string(core::WorkerStateName(w->rec.status)))
        .With("requested_state", "RUNNING")
        .With("worker_id", id)
        .With("job_id", job->rec.id);
    co_return e;
  }
  // SPEC §2: the slot given back by the pause is taken again first, else 409 QUOTA_EXCEEDED.
  if (NeedsSlot(*w)) {
    if (Status slot = scheduler_.TakeFreeSlotFor(*w); !slot) co_return slot.error();
  }
  if (w->process) {
    w->stop_unconfirmed = false;  // the SIGCONT below cancels a stop still pending
    Status sig = ctx_.procs.Resume(*w->process);
    if (!sig) {
      scheduler_.ReturnUnusedSlot(*w);
      co_return sig.error();
    }
  }
  Result<bool> changed =
      co_await runner_.TransitionHeld(w, WorkerEvent::kResume, "RESUME_REQUESTED", nullptr);
  if (!changed) {
    // Still PAUSED: the process stops again and the slot goes back.
    co_await runner_.UndoResume(w);
    Error e = std::move(changed).error();
    if (e.code == ErrorCode::kQuotaExceeded && job) {
      // Refused by the database: writers on other connections (another daemon on the same
      // database) hold the depth's slots, though this daemon's book had one free.
      e.message = "no free worker slot at depth " + std::to_string(job->rec.depth) +
                  " (held by other writers on the database): resume once a worker there has "
                  "ended or paused, or raise the quota (PUT /api/resources/quotas)";
      e.With("worker_id", id);
    }
    co_return e;
  }
  runner_.StartTimeoutClock(w);
  job_lock.Release();
  if (*changed) job_ops_.AfterJobChange(job);
  co_return w->rec;
}

asio::awaitable<Result<core::Worker>> WorkerCommands::Terminate(Caller caller, std::string id,
                                                                std::chrono::milliseconds grace,
                                                                bool wait) {
  WorkerPtr w = ctx_.FindWorker(caller.workspace_id, id);
  if (!w) co_return co_await access_.NotLiveError(caller, id, WorkerEvent::kTerminate);
  if (!wait) {
    Result<WorkerState> next = core::NextWorkerState(w->rec.status, WorkerEvent::kTerminate);
    if (!next || w->terminating) {
      Error e = next ? MakeError(ErrorCode::kInvalidStateTransition, "already terminating")
                     : next.error();
      e.With("worker_id", id);
      co_return e;
    }
    core::Worker now = w->rec;
    ctx_.tasks.Spawn(internal::Discard(runner_.Terminate(w, grace, "TERMINATE_REQUESTED")),
                     "terminate");
    co_return now;
  }
  Status s = co_await runner_.Terminate(w, grace, "TERMINATE_REQUESTED");
  if (!s) co_return s.error();
  co_return w->rec;
}
}  // namespace overseer::service
