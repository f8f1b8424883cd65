// Supervisor: worker reads and commands (pause, resume, terminate), logs, metrics, ping.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <chrono>

#include "proc/log_file.h"
#include "service/supervisor.h"
#include "service/supervisor_internal.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::WorkerEvent;

namespace {
// How long a pause waits for the kernel to report the process stopped (or gone).
constexpr std::chrono::milliseconds kPauseConfirmWait{1000};
}  // namespace

using core::WorkerState;

Supervisor::WorkerPtr Supervisor::FindLive(const Caller& caller, const std::string& id) const {
  auto it = workers_.find(id);
  if (it == workers_.end() || it->second->rec.workspace_id != caller.workspace_id) return nullptr;
  return it->second;
}

asio::awaitable<Error> Supervisor::NotLiveError(const Caller& caller, std::string id,
                                                WorkerEvent requested) {
  Result<core::Worker> w = co_await RunBlocking(
      pool_, [this, &caller, &id] { return store_.GetWorker(caller.workspace_id, id); });
  if (!w) co_return w.error();
  Result<WorkerState> next = core::NextWorkerState(w->status, requested);
  if (next) {
    co_return MakeError(ErrorCode::kUnavailable, "worker is not supervised by this daemon");
  }
  Error e = next.error();
  e.With("worker_id", id);
  co_return e;
}

namespace {

// Live usage off the request path: the process layer's sampler answers from memory, or after
// its next pass when the last sample is older than its bound; this path never reads /proc or
// cgroup files. Zeros when there is no process.
asio::awaitable<proc::Usage> LiveUsage(proc::Launcher& procs,
                                       std::shared_ptr<proc::Process> process) {
  if (!process) co_return proc::Usage{};
  if (std::optional<proc::Usage> cached = procs.CachedUsage(*process)) co_return *cached;
  proc::Usage usage;
  co_await internal::AwaitCallback([&](std::function<void()> done) {
    procs.AwaitUsage(*process, [&usage, done = std::move(done)](proc::Usage u) {
      usage = u;
      done();
    });
  });
  co_return usage;
}

}  // namespace

asio::awaitable<Result<WorkerView>> Supervisor::GetWorker(Caller caller, std::string id) {
  // Hot path without a database round trip: a live worker from memory. (A finished one is
  // read once, marked final, and then answered by the api layer's cache of rendered views.)
  if (WorkerPtr live = FindLive(caller, id); live && live->history_complete) {
    proc::Usage usage = co_await LiveUsage(procs_, live->process);
    co_return WorkerView{live->rec, live->history, usage};
  }
  Result<WorkerView> view = co_await RunBlocking(pool_, [&]() -> Result<WorkerView> {
    Result<core::Worker> w = store_.GetWorker(caller.workspace_id, id);
    if (!w) return w.error();
    Result<std::vector<core::Transition>> t = store_.ListTransitions(caller.workspace_id, id);
    if (!t) return t.error();
    return WorkerView{std::move(*w), std::move(*t), {}};
  });
  if (!view) co_return view;
  if (WorkerPtr live = FindLive(caller, id)) {
    view->usage = co_await LiveUsage(procs_, live->process);
  } else if (core::IsTerminalWorkerState(view->worker.status) ||
             view->worker.status == WorkerState::kFailed) {
    // Not supervised (a FAILED worker with a retry left is RETRYING, and live): final.
    view->final = true;
  }
  co_return view;
}

asio::awaitable<Result<store::Page<core::Worker>>> Supervisor::ListWorkers(
    Caller caller, store::WorkerQuery query) {
  co_return co_await RunBlocking(pool_,
                                 [&] { return store_.ListWorkers(caller.workspace_id, query); });
}

asio::awaitable<Result<core::Worker>> Supervisor::Pause(Caller caller, std::string id) {
  WorkerPtr w = FindLive(caller, id);
  if (!w) co_return co_await NotLiveError(caller, id, WorkerEvent::kPause);
  auto lock = co_await ScopedLock::Acquire(w->mu);
  Result<WorkerState> next = core::NextWorkerState(w->rec.status, WorkerEvent::kPause);
  if (!next) {
    Error e = next.error();
    e.With("worker_id", id);
    co_return e;
  }
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
  Status sig = procs_.Pause(*w->process);
  if (!sig && sig.error().code != ErrorCode::kInvalidStateTransition) co_return sig.error();
  proc::MainState state = proc::MainState::kExited;
  if (sig) state = co_await AwaitStoppedOrGone(w, kPauseConfirmWait);
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
  StopTimeoutClock(*w);
  Status s = co_await Transition(w, WorkerEvent::kPause, "PAUSE_REQUESTED", nullptr);
  if (!s) {
    StartTimeoutClock(w);
    co_return s.error();
  }
  co_return w->rec;
}

asio::awaitable<Result<core::Worker>> Supervisor::Resume(Caller caller, std::string id) {
  WorkerPtr w = FindLive(caller, id);
  if (!w) co_return co_await NotLiveError(caller, id, WorkerEvent::kResume);
  auto lock = co_await ScopedLock::Acquire(w->mu);
  Result<WorkerState> next = core::NextWorkerState(w->rec.status, WorkerEvent::kResume);
  if (!next) {
    Error e = next.error();
    e.With("worker_id", id);
    co_return e;
  }
  // Under the job's mu through the commit: a worker of a job that has ended is not run again
  // (the job's end terminates it).
  std::shared_ptr<LiveJob> job = w->job;
  ScopedLock job_lock;
  if (job) job_lock = co_await ScopedLock::Acquire(job->mu);
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
    const std::string& ws = w->rec.workspace_id;
    const int depth = w->job->rec.depth;
    if (!quotas_.Fits(ws, depth, 1)) {
      Error e = QuotaExceeded(ws, depth, 1,
                              "no free worker slot at depth " + std::to_string(depth) +
                                  ": resume once another worker there has ended or paused, or "
                                  "raise the quota (PUT /api/resources/quotas)");
      e.With("worker_id", id);
      co_return e;
    }
    TakeSlotFor(*w);
  }
  if (w->process) {
    Status sig = procs_.Resume(*w->process);
    if (!sig) {
      ReturnUnusedSlot(*w);
      co_return sig.error();
    }
  }
  Result<bool> changed =
      co_await TransitionHeld(w, WorkerEvent::kResume, "RESUME_REQUESTED", nullptr);
  if (!changed) {
    ReturnUnusedSlot(*w);
    co_return changed.error();
  }
  StartTimeoutClock(w);
  job_lock.Release();
  if (*changed) AfterJobChange(job);
  co_return w->rec;
}

asio::awaitable<Status> Supervisor::TerminateLocked(WorkerPtr w, std::chrono::milliseconds grace,
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
  const TimeMs now = clock_.NowMs();
  const std::optional<proc::ExitStatus> exit = w->exit;
  Status s = co_await Transition(w, WorkerEvent::kTerminate, reason,
                                 [&](core::Worker& r) { RecordEnd(r, now, exit); });
  w->terminating = false;
  lock.Release();
  if (w->job) Forget(w->job);
  co_return s;
}

asio::awaitable<Result<core::Worker>> Supervisor::Terminate(Caller caller, std::string id,
                                                            std::chrono::milliseconds grace,
                                                            bool wait) {
  WorkerPtr w = FindLive(caller, id);
  if (!w) co_return co_await NotLiveError(caller, id, WorkerEvent::kTerminate);
  if (!wait) {
    Result<WorkerState> next = core::NextWorkerState(w->rec.status, WorkerEvent::kTerminate);
    if (!next || w->terminating) {
      Error e = next ? MakeError(ErrorCode::kInvalidStateTransition, "already terminating")
                     : next.error();
      e.With("worker_id", id);
      co_return e;
    }
    core::Worker now = w->rec;
    tasks_.Spawn(internal::Discard(TerminateLocked(w, grace, "TERMINATE_REQUESTED")), "terminate");
    co_return now;
  }
  Status s = co_await TerminateLocked(w, grace, "TERMINATE_REQUESTED");
  if (!s) co_return s.error();
  co_return w->rec;
}

asio::awaitable<Result<std::string>> Supervisor::Logs(Caller caller, std::string id, int tail) {
  co_return co_await RunBlocking(pool_, [&]() -> Result<std::string> {
    Result<core::Worker> w = store_.GetWorker(caller.workspace_id, id);
    if (!w) return w.error();
    Result<std::string> text =
        proc::TailLogFiles(w->log_path.empty() ? LogPath(id) : w->log_path, tail, 4 << 20);
    if (!text && text.error().code == ErrorCode::kNotFound) return std::string();  // no output yet
    return text;
  });
}

asio::awaitable<Result<Metrics>> Supervisor::GetMetrics(Caller caller, bool daemon_wide) {
  Result<std::vector<std::pair<WorkerState, int64_t>>> counts =
      co_await RunBlocking(pool_, [&] { return store_.CountWorkersByStatus(caller.workspace_id); });
  if (!counts) co_return counts.error();
  Metrics m;
  if (auto c = workspace_counters_.find(caller.workspace_id); c != workspace_counters_.end()) {
    m.counters = c->second;
  }
  if (daemon_wide) {
    m.daemon_wide = true;
    m.daemon_counters = counters_;
    m.commits = commits_.committed();
    m.commit_transactions = commits_.batches();
  }
  m.workers_by_status = std::move(*counts);
  m.uptime_seconds = (clock_.NowMs() - started_at_) / 1000;
  std::vector<std::pair<int, int64_t>> by_depth;
  for (const auto& [id, w] : workers_) {
    if (w->rec.workspace_id != caller.workspace_id || !w->job) continue;
    if (w->rec.status != WorkerState::kRunning && w->rec.status != WorkerState::kPaused) continue;
    const int d = w->job->rec.depth;
    auto it = std::find_if(by_depth.begin(), by_depth.end(), [d](auto& p) { return p.first == d; });
    if (it == by_depth.end()) {
      by_depth.emplace_back(d, 1);
    } else {
      ++it->second;
    }
  }
  std::sort(by_depth.begin(), by_depth.end());
  m.live_workers_by_depth = std::move(by_depth);
  co_return m;
}

asio::awaitable<Status> Supervisor::Ping() {
  co_return co_await RunBlocking(pool_, [this] { return store_.Ping(); });
}
}  // namespace overseer::service
