// WorkerRunner: process events — exit, timeout, retry due, a stop or continue from outside.
#include <spdlog/spdlog.h>

#include "service/job_operations.h"
#include "service/scheduler.h"
#include "service/worker_agent.h"
#include "service/worker_runner.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::WorkerEvent;
using core::WorkerState;

namespace {

// Marks `w` as recording how its process ended for the scope (LiveWorker::recording_end).
class RecordingEnd {
 public:
  explicit RecordingEnd(LiveWorker& w) : w_(w) { w_.recording_end = true; }
  ~RecordingEnd() { w_.recording_end = false; }
  RecordingEnd(const RecordingEnd&) = delete;
  RecordingEnd& operator=(const RecordingEnd&) = delete;

 private:
  LiveWorker& w_;
};

}  // namespace

asio::awaitable<void> WorkerRunner::OnExit(WorkerPtr w, int attempt) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  if (w->rec.attempt != attempt || w->terminating) co_return;
  if (w->rec.status != WorkerState::kRunning && w->rec.status != WorkerState::kPaused) co_return;
  StopTimeoutClock(*w);
  RecordingEnd recording(*w);
  const proc::ExitStatus st = w->exit.value_or(proc::ExitStatus{});
  // An agent's stream has the last word on how its run went (its result line), not the exit
  // code; without a result the exit code decides.
  const std::optional<bool> verdict = AgentSucceeded(*w, attempt);
  const bool exited_ok = st.term_signal == 0 && st.exit_code == 0;
  // The main process is gone; end what it left in its group or cgroup.
  co_await KillTree(w, std::chrono::milliseconds(0));
  w->process.reset();
  w->terminating = false;
  const TimeMs now = ctx_.clock.NowMs();
  auto record_exit = [&](core::Worker& r) { RecordEnd(r, now, st); };
  Status s;
  if (w->rec.status == WorkerState::kPaused) {
    // A paused process cannot run to its end: someone killed it while it was stopped (a pause
    // racing an exit answers 409 and is never recorded). SPEC §2 has no PAUSED -> FAILED or
    // COMPLETED: the record says TERMINATED, with how it ended; a killed pause is not retried.
    s = co_await Transition(w, WorkerEvent::kTerminate, "EXITED_WHILE_PAUSED", record_exit);
  } else if (verdict.value_or(exited_ok)) {
    s = co_await Transition(w, WorkerEvent::kExitedOk, "EXITED", record_exit);
  } else if (verdict.has_value()) {
    s = co_await Fail(w, "AGENT_ERROR", st);
  } else {
    s = co_await Fail(w, st.term_signal != 0 ? "KILLED_BY_SIGNAL" : "EXIT_NONZERO", st);
  }
  if (!s) spdlog::error("worker {}: could not record exit: {}", w->rec.id, s.error().message);
}

asio::awaitable<void> WorkerRunner::OnTimeout(WorkerPtr w, int attempt, uint64_t gen) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  // Only the clock of a RUNNING attempt ends it: a pause stopped the clock (and changed gen).
  if (w->rec.attempt != attempt || w->terminating || w->timeout_gen != gen) co_return;
  if (w->rec.status != WorkerState::kRunning) co_return;
  w->timeout_running = false;
  RecordingEnd recording(*w);
  spdlog::info("worker {}: timeout after {} s", w->rec.id,
               w->job ? w->job->rec.timeout_seconds : 0);
  co_await KillTree(w, ctx_.options.timeout_grace);
  w->process.reset();
  w->terminating = false;
  Status s = co_await Fail(w, "TIMEOUT", w->exit);
  if (!s) spdlog::error("worker {}: could not record timeout: {}", w->rec.id, s.error().message);
}

asio::awaitable<void> WorkerRunner::OnStall(WorkerPtr w, int attempt, uint64_t gen) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  // Only the clock of a RUNNING attempt ends it: a pause stopped the clock (and changed gen).
  if (w->rec.attempt != attempt || w->terminating || w->stall_gen != gen) co_return;
  if (w->rec.status != WorkerState::kRunning || !w->job) co_return;
  const auto limit = std::chrono::seconds(w->job->rec.stall_seconds);
  const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - w->stall_since);
  if (silent < limit) {
    ArmStallTimer(w, limit - silent);  // a line came since: wait for the rest
    co_return;
  }
  w->stall_running = false;
  spdlog::info("worker {}: no output for {} s: stalled", w->rec.id, w->job->rec.stall_seconds);
  co_await KillTree(w, ctx_.options.timeout_grace);
  w->process.reset();
  w->terminating = false;
  Status s = co_await Fail(w, "STALLED", w->exit);
  if (!s) spdlog::error("worker {}: could not record stall: {}", w->rec.id, s.error().message);
}

asio::awaitable<void> WorkerRunner::OnRetryDue(WorkerPtr w, int attempt) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  if (w->rec.attempt != attempt || w->rec.status != WorkerState::kRetrying || ctx_.shutting_down) {
    co_return;
  }
  Status s = co_await Spawn(w);
  if (!s && (s.error().code == ErrorCode::kInvalidStateTransition ||
             s.error().code == ErrorCode::kConflict)) {
    // Its job ended while the retry waited: the job's end terminates the worker.
    spdlog::debug("worker {}: no respawn: {}", w->rec.id, s.error().message);
  } else if (!s) {
    spdlog::error("worker {}: respawn failed: {}", w->rec.id, s.error().message);
  }
}

asio::awaitable<void> WorkerRunner::OnStopOrContinue(WorkerPtr w) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  if (w->terminating || !w->process) co_return;
  // Notifications arrive late and coalesce, and the daemon's own SIGSTOP/SIGCONT cause them
  // too: what counts is what the process is doing now, against what the record says.
  const proc::MainState now = ctx_.procs.State(*w->process);
  if (now == proc::MainState::kStopped) w->stop_unconfirmed = false;
  Status s;
  if (now == proc::MainState::kRunning && w->rec.status == WorkerState::kPaused &&
      w->stop_unconfirmed) {
    // The daemon's own SIGSTOP has not taken effect yet (the notification is a late one of an
    // earlier SIGCONT, e.g. the resume just before the pause), or someone's SIGCONT raced it:
    // the pause was answered, so the process is stopped (again).
    (void)ctx_.procs.Pause(*w->process);
    co_return;
  }
  if (now == proc::MainState::kStopped && w->rec.status == WorkerState::kRunning) {
    // Someone else's SIGSTOP: the record follows reality, and the whole tree pauses with it.
    (void)ctx_.procs.Pause(*w->process);
    StopTimeoutClock(*w);
    s = co_await Transition(w, WorkerEvent::kStoppedOutside, "STOPPED_EXTERNALLY", nullptr);
    if (!s) StartTimeoutClock(w);
  } else if (now == proc::MainState::kRunning && w->rec.status == WorkerState::kPaused) {
    // Someone else's SIGCONT: the whole tree runs again, whatever the quota says: its slot is
    // counted again, even over the limit (TakeSlotFor: no SlotLimit, the database records
    // what already happened).
    (void)ctx_.procs.Resume(*w->process);
    if (NeedsSlot(*w)) scheduler_.TakeSlotFor(*w);
    s = co_await Transition(w, WorkerEvent::kContinuedOutside, "CONTINUED_EXTERNALLY", nullptr);
    if (!s) {
      scheduler_.ReturnUnusedSlot(*w);
    } else {
      StartTimeoutClock(w);
    }
  }
  if (!s) spdlog::warn("worker {}: {}", w->rec.id, s.error().message);
}
}  // namespace overseer::service
