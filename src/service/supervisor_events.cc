// Supervisor: process events (exit, timeout, retry due, stop/continue from outside).
#include <spdlog/spdlog.h>

#include "service/supervisor.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::WorkerEvent;
using core::WorkerState;

asio::awaitable<void> Supervisor::OnExit(WorkerPtr w, int attempt) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  if (w->rec.attempt != attempt || w->terminating) co_return;
  if (w->rec.status != WorkerState::kRunning && w->rec.status != WorkerState::kPaused) co_return;
  if (w->timeout_timer) w->timeout_timer->cancel();
  const proc::ExitStatus st = w->exit.value_or(proc::ExitStatus{});
  // The main process is gone; end what it left in its group or cgroup.
  co_await KillTree(w, std::chrono::milliseconds(0));
  w->process.reset();
  w->terminating = false;
  Status s;
  if (st.term_signal == 0 && st.exit_code == 0) {
    const TimeMs now = clock_.NowMs();
    s = co_await Transition(w, WorkerEvent::kExitedOk, "EXITED", [&](core::Worker& r) {
      r.exit_code = 0;
      r.ended_at = now;
    });
  } else {
    s = co_await Fail(w, st.term_signal != 0 ? "KILLED_BY_SIGNAL" : "EXIT_NONZERO", st);
  }
  if (!s) spdlog::error("worker {}: could not record exit: {}", w->rec.id, s.error().message);
}

asio::awaitable<void> Supervisor::OnTimeout(WorkerPtr w, int attempt) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  if (w->rec.attempt != attempt || w->terminating) co_return;
  if (w->rec.status != WorkerState::kRunning && w->rec.status != WorkerState::kPaused) co_return;
  spdlog::info("worker {}: timeout after {} s", w->rec.id,
               w->job ? w->job->rec.timeout_seconds : 0);
  co_await KillTree(w, options_.timeout_grace);
  w->process.reset();
  w->terminating = false;
  Status s = co_await Fail(w, "TIMEOUT", w->exit);
  if (!s) spdlog::error("worker {}: could not record timeout: {}", w->rec.id, s.error().message);
}

asio::awaitable<void> Supervisor::OnRetryDue(WorkerPtr w, int attempt) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  if (w->rec.attempt != attempt || w->rec.status != WorkerState::kRetrying || shutting_down_) {
    co_return;
  }
  Status s = co_await Spawn(w);
  if (!s) spdlog::error("worker {}: respawn failed: {}", w->rec.id, s.error().message);
}

asio::awaitable<void> Supervisor::OnStopOrContinue(WorkerPtr w, bool stopped) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  if (w->terminating || !w->process) co_return;
  Status s;
  if (stopped && w->rec.status == WorkerState::kRunning) {
    // Someone else's SIGSTOP: the record follows reality, and the whole tree pauses with it.
    (void)procs_.Pause(*w->process);
    s = co_await Transition(w, WorkerEvent::kStoppedOutside, "STOPPED_EXTERNALLY", nullptr);
  } else if (!stopped && w->rec.status == WorkerState::kPaused) {
    (void)procs_.Resume(*w->process);
    // It runs again whatever the quota says: its slot is counted again, even over the limit.
    if (NeedsSlot(*w)) TakeSlotFor(*w);
    s = co_await Transition(w, WorkerEvent::kContinuedOutside, "CONTINUED_EXTERNALLY", nullptr);
    if (!s) ReturnUnusedSlot(*w);
  }
  if (!s) spdlog::warn("worker {}: {}", w->rec.id, s.error().message);
}
}  // namespace overseer::service
