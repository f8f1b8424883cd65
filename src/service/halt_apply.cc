// Halts: carrying a halt out on a subtree (freeze, terminate) and thawing it, and the
// commit of a job's halt record (see halts.h).
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>

#include "core/events.h"
#include "core/halt.h"
#include "service/coroutines.h"
#include "service/halts.h"
#include "service/job_operations.h"
#include "service/scheduler.h"
#include "service/worker_runner.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::HaltMode;

namespace {

// The transition reason of the workers an unhalt resumes.
constexpr std::string_view kUnhaltReason = "UNHALTED";
// How long a freeze waits for the kernel to report a process stopped (or gone), as a pause.
constexpr std::chrono::milliseconds kStopConfirmWait{1000};

}  // namespace

// Runs every item of `work` at once (tracked tasks) and resumes when all are done.
asio::awaitable<void> Halts::RunAll(std::vector<asio::awaitable<void>> work) {
  if (work.empty()) co_return;
  auto remaining = std::make_shared<size_t>(work.size());
  auto timer = std::make_shared<asio::steady_timer>(ctx_.io, asio::steady_timer::time_point::max());
  for (auto& w : work) {
    ctx_.tasks.Spawn(internal::CountDown(std::move(w), remaining, timer), "halt");
  }
  if (*remaining > 0) (void)co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<Status> Halts::RecordJobHalt(JobPtr job, std::optional<core::Halt> halt,
                                             std::string by, std::optional<core::Event> event) {
  // Under the job's mu: every change of the job's row is planned from memory under it, so
  // none can be planned from the row as it was before this one and overwrite it.
  auto lock = co_await ScopedLock::Acquire(job->mu);
  const TimeMs now = ctx_.clock.NowMs();
  const core::Job& j = job->rec;
  store::ChangeSet cs;
  cs.job_halts.push_back(store::JobHaltChange{j.workspace_id, j.id, halt});
  if (event) {
    cs.events.push_back(std::move(*event));
  } else if (halt) {
    cs.events.push_back(core::JobHaltedEvent(j.workspace_id, j.id, *halt, now));
  } else if (j.halted) {
    cs.events.push_back(core::JobUnhaltedEvent(j.workspace_id, j.id, *j.halted, by, now));
  }
  Status st = co_await ctx_.commits.Commit(cs);
  if (!st) co_return st;
  job->rec.halted = std::move(halt);
  ctx_.bus.Publish(cs.events);
  co_return OkStatus();
}

asio::awaitable<std::vector<JobPtr>> Halts::Subtree(JobPtr root, bool stop_at_halted) {
  std::vector<JobPtr> out;
  std::deque<JobPtr> next{root};
  while (!next.empty()) {
    JobPtr j = std::move(next.front());
    next.pop_front();
    if (stop_at_halted && j != root && j->rec.halted) continue;
    // A child is linked to its parent under the parent's mu (CreateJob): reading the list
    // under it waits for a child whose creation is under way.
    std::vector<JobPtr> children;
    {
      auto lock = co_await ScopedLock::Acquire(j->mu);
      children = j->children;
    }
    out.push_back(std::move(j));
    for (JobPtr& c : children) next.push_back(std::move(c));
  }
  co_return out;
}

asio::awaitable<void> Halts::Apply(JobPtr job, HaltMode mode, std::chrono::milliseconds grace,
                                   std::string reason) {
  for (int pass = 0; pass < kMaxHaltPasses; ++pass) {
    std::vector<JobPtr> jobs = co_await Subtree(job, false);
    std::vector<JobPtr> cancel;
    std::vector<asio::awaitable<void>> work;
    for (const JobPtr& j : jobs) {
      if (core::HaltCancelsJob(mode, j->rec.status)) {
        cancel.push_back(j);  // its workers are ended by the cancel
        continue;
      }
      std::vector<WorkerPtr> to_pause;
      for (const WorkerPtr& w : j->workers) {
        switch (core::HaltActionFor(mode, w->rec.status)) {
          case core::HaltWorkerAction::kPause:
            to_pause.push_back(w);
            break;
          case core::HaltWorkerAction::kTerminate:
            if (!w->terminating) {
              work.push_back(internal::Discard(runner_.Terminate(w, grace, reason)));
            }
            break;
          case core::HaltWorkerAction::kNone:
            break;
        }
      }
      if (!to_pause.empty()) work.push_back(PauseJobWorkers(j, std::move(to_pause), reason));
    }
    if (cancel.empty() && work.empty()) co_return;
    // The jobs first: a slot a pause gives back must not start a queued job of the subtree.
    if (!cancel.empty()) co_await job_ops_.CancelCascade(std::move(cancel), reason, reason, grace);
    co_await RunAll(std::move(work));
  }
}

asio::awaitable<void> Halts::Thaw(JobPtr job) {
  std::vector<JobPtr> jobs = co_await Subtree(std::move(job), true);
  std::vector<asio::awaitable<void>> work;
  for (const JobPtr& j : jobs) {
    std::vector<WorkerPtr> to_resume;
    for (const WorkerPtr& w : j->workers) {
      if (core::ResumedByUnhalt(w->rec)) to_resume.push_back(w);
    }
    if (!to_resume.empty()) work.push_back(ResumeJobWorkers(j, std::move(to_resume)));
  }
  co_await RunAll(std::move(work));
}

asio::awaitable<void> Halts::PauseJobWorkers(JobPtr job, std::vector<WorkerPtr> workers,
                                             std::string reason) {
  // Each worker's mu, in the job's order (as a job's start takes them), then the job's.
  std::vector<ScopedLock> locks;
  locks.reserve(workers.size());
  for (const WorkerPtr& w : workers) locks.push_back(co_await ScopedLock::Acquire(w->mu));
  // SIGSTOP to every process first, then the kernel's word for each: they stop in parallel.
  std::vector<WorkerPtr> signaled;
  for (const WorkerPtr& w : workers) {
    if (w->rec.status != core::WorkerState::kRunning || !w->process || w->terminating) continue;
    if (Status sig = ctx_.procs.Pause(*w->process); sig) signaled.push_back(w);
  }
  std::vector<WorkerPtr> stopped;
  for (const WorkerPtr& w : signaled) {
    // One deadline for all: the processes stop meanwhile, the waits mostly return at once.
    const proc::MainState state = co_await runner_.AwaitStoppedOrGone(w, kStopConfirmWait);
    if (state == proc::MainState::kExited) continue;  // its exit is recorded as such
    if (state == proc::MainState::kRunning) {
      spdlog::warn("worker {}: not stopped {} ms after SIGSTOP; recorded PAUSED (halt)", w->rec.id,
                   kStopConfirmWait.count());
    }
    runner_.StopTimeoutClock(*w);
    stopped.push_back(w);
  }
  if (stopped.empty()) co_return;
  auto job_lock = co_await ScopedLock::Acquire(job->mu);
  if (Status st = co_await runner_.TransitionManyHeld(stopped, core::WorkerEvent::kPause, reason);
      !st) {
    spdlog::error("job {}: recording its workers PAUSED (halt): {}", job->rec.id,
                  st.error().message);
    for (const WorkerPtr& w : stopped) runner_.StartTimeoutClock(w);
  }
}

asio::awaitable<void> Halts::ResumeJobWorkers(JobPtr job, std::vector<WorkerPtr> workers) {
  std::vector<ScopedLock> locks;
  locks.reserve(workers.size());
  for (const WorkerPtr& w : workers) locks.push_back(co_await ScopedLock::Acquire(w->mu));
  auto job_lock = co_await ScopedLock::Acquire(job->mu);
  // As a resume request: nothing runs again for a job that has ended or is halted (again).
  if (core::IsTerminalJobState(job->rec.status) || HaltedAt(*job) != nullptr) co_return;
  std::vector<WorkerPtr> ready;
  for (const WorkerPtr& w : workers) {
    if (!core::ResumedByUnhalt(w->rec)) continue;  // moved meanwhile
    // SPEC §2: the slot first (one whose depth is full stays PAUSED, reason HALTED), then
    // SIGCONT.
    if (NeedsSlot(*w)) {
      if (Status slot = scheduler_.TakeFreeSlotFor(*w); !slot) {
        spdlog::info("worker {}: stays PAUSED after the unhalt: {}", w->rec.id,
                     slot.error().message);
        continue;
      }
    }
    if (w->process) {
      w->stop_unconfirmed = false;  // the SIGCONT cancels a stop still pending
      if (Status sig = ctx_.procs.Resume(*w->process); !sig) {
        scheduler_.ReturnUnusedSlot(*w);
        continue;
      }
    }
    ready.push_back(w);
  }
  if (ready.empty()) co_return;
  const std::string reason(kUnhaltReason);
  Status st = co_await runner_.TransitionManyHeld(ready, core::WorkerEvent::kResume, reason);
  if (st) {
    for (const WorkerPtr& w : ready) runner_.StartTimeoutClock(w);
    co_return;
  }
  if (st.error().code != ErrorCode::kQuotaExceeded) {
    spdlog::error("job {}: recording its workers RUNNING (unhalt): {}", job->rec.id,
                  st.error().message);
    for (const WorkerPtr& w : ready) co_await runner_.UndoResume(w);
    co_return;
  }
  // The database refused the slots (writers on other connections filled the depth since the
  // book said they were free): each worker on its own, in order, as far as the slots go; the
  // others stay PAUSED (reason HALTED) and stopped, as when the book has no slot.
  for (const WorkerPtr& w : ready) {
    Result<bool> one =
        co_await runner_.TransitionHeld(w, core::WorkerEvent::kResume, reason, nullptr);
    if (one) {
      runner_.StartTimeoutClock(w);
      continue;
    }
    spdlog::info("worker {}: stays PAUSED after the unhalt: {}", w->rec.id, one.error().message);
    co_await runner_.UndoResume(w);
  }
}

asio::awaitable<Result<core::Job>> Halts::HaltOne(JobPtr job, core::Halt halt,
                                                  std::chrono::milliseconds grace) {
  const HaltMode mode = halt.mode;
  const std::string by = halt.by;
  if (Status st = co_await RecordJobHalt(job, std::move(halt), by); !st) co_return st.error();
  co_await Apply(job, mode, grace);
  co_return job->rec;
}

asio::awaitable<void> Halts::HaltForBudget(JobPtr job, core::Halt halt, std::string limit,
                                           std::chrono::milliseconds grace) {
  if (core::IsTerminalJobState(job->rec.status) || HaltedAt(*job) != nullptr) co_return;
  const HaltMode mode = halt.mode;
  const std::string by = halt.by;
  core::Job with = job->rec;  // the event shows the usage that spent it
  core::Event event = core::BudgetExhaustedEvent(with, limit, halt.at);
  if (Status st = co_await RecordJobHalt(job, std::move(halt), by, std::move(event)); !st) {
    spdlog::error("job {}: recording its spent budget: {}", job->rec.id, st.error().message);
    co_return;
  }
  co_await Apply(job, mode, grace, std::string(core::kBudgetExhaustedReason));
}

asio::awaitable<Status> Halts::LiftBudgetHalt(JobPtr job, std::string by) {
  if (!job->rec.halted || !job->rec.halted->budget) co_return OkStatus();
  co_return co_await UnhaltOne(std::move(job), std::move(by));
}

asio::awaitable<Status> Halts::UnhaltOne(JobPtr job, std::string by) {
  const std::optional<core::Halt> lifted = job->rec.halted;
  if (Status st = co_await RecordJobHalt(job, std::nullopt, by); !st) co_return st;
  if (lifted && lifted->mode == HaltMode::kFreeze) co_await Thaw(job);
  co_return OkStatus();
}

}  // namespace overseer::service
