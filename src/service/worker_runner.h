// WorkerRunner: a live worker's attempts — its transitions (planned by core, committed, then
// memory, then published), its process (spawn, signals, the tree's end), its timers (timeout
// clock, retry backoff) and the process events that move it (exit, timeout, retry due, a stop
// or continue from outside). When a transition changes the worker's job, the job's follow-up
// is handed to JobOperations::AfterJobChange; slots come from and go back to the Scheduler.
// Loop thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "service/context.h"
#include "service/worker_agent.h"

namespace overseer::service {

class JobOperations;
class Scheduler;

class WorkerRunner {
 public:
  WorkerRunner(Context& ctx, Scheduler& scheduler, JobOperations& jobs)
      : ctx_(ctx), scheduler_(scheduler), job_ops_(jobs) {}

  // Moves `w` by `event`: builds the new row with `mutate`, lets the job follow, commits
  // both in one transaction, then updates memory and publishes. Caller holds w->mu and the
  // job's mu (the decision and the commit cannot interleave with another change of the job).
  // True if the job changed: the caller runs AfterJobChange once it has released the job's mu.
  boost::asio::awaitable<Result<bool>> TransitionHeld(
      const WorkerPtr& w, core::WorkerEvent event, std::string reason,
      const std::function<void(core::Worker&)>& mutate);
  // Moves every worker of `workers` (all of one job) by `event` with `reason` in one commit,
  // for moves that leave the job's status as it is (pause, resume: the kill switch moves a
  // whole job at once); memory follows, then the events are published. Caller holds every
  // worker's mu and the job's mu. kInvalidStateTransition (nothing written) if one move is
  // illegal or would change the job.
  boost::asio::awaitable<Status> TransitionManyHeld(std::vector<WorkerPtr> workers,
                                                    core::WorkerEvent event, std::string reason);
  // TransitionHeld under the job's mu, taken here; then AfterJobChange. Caller holds w->mu.
  boost::asio::awaitable<Status> Transition(const WorkerPtr& w, core::WorkerEvent event,
                                            std::string reason,
                                            const std::function<void(core::Worker&)>& mutate);
  // After a failed attempt: FAILED, then RETRYING with a backoff timer if the policy allows
  // (two rows of the worker table in one commit). Caller holds w->mu.
  boost::asio::awaitable<Status> Fail(const WorkerPtr& w, std::string reason,
                                      std::optional<proc::ExitStatus> exit);
  // Spawns the next attempt of an IDLE or RETRYING worker, under its job's mu: nothing is
  // started for a job that has ended (kInvalidStateTransition). Caller holds w->mu.
  boost::asio::awaitable<Status> Spawn(const WorkerPtr& w);
  // Starts `to_start` (IDLE workers of `job`, slots already taken from the Scheduler): one
  // allocation each, IDLE -> RUNNING, all added to `cs` and committed while their processes
  // spawn; their pids follow in a commit of their own. Caller holds the job's mu and every
  // worker's mu, and has checked the job is not terminal. On a failed commit the processes
  // are ended and the slots given back. Answers the workers whose process could not start
  // (the caller Fails them once it has released the job's mu).
  boost::asio::awaitable<Result<std::vector<WorkerPtr>>> StartWorkers(
      const JobPtr& job, const std::vector<WorkerPtr>& to_start, store::ChangeSet& cs);
  // Terminates `w` to TERMINATED with `reason`; takes w->mu itself.
  boost::asio::awaitable<Status> Terminate(WorkerPtr w, std::chrono::milliseconds grace,
                                           std::string reason);
  // Terminates every worker of `workers` in parallel; resumes when all are done.
  boost::asio::awaitable<void> TerminateAll(std::vector<WorkerPtr> workers,
                                            std::chrono::milliseconds grace, std::string reason);
  // Ends the process tree of `w` and waits until it is gone. Caller holds w->mu.
  boost::asio::awaitable<void> KillTree(const WorkerPtr& w, std::chrono::milliseconds grace);
  // Waits until the kernel reports `w`'s main process stopped or gone, at most `limit`;
  // answers its state then (kRunning if neither happened in time). Caller holds w->mu.
  boost::asio::awaitable<proc::MainState> AwaitStoppedOrGone(const WorkerPtr& w,
                                                             std::chrono::milliseconds limit);
  // A resume (or unhalt) whose commit failed after its SIGCONT — the database refused its slot
  // (kQuotaExceeded: other writers filled the depth), or could not write: the process is
  // stopped again so that it matches its record, still PAUSED, then the slot taken for it goes
  // back to the book. Caller holds w->mu.
  boost::asio::awaitable<void> UndoResume(const WorkerPtr& w);
  // Starts (resume) or stops (pause) the clocks of `w`'s current attempt: its timeout and its
  // stall clock (neither counts paused time).
  void StartTimeoutClock(const WorkerPtr& w);
  void StopTimeoutClock(LiveWorker& w);

 private:
  // Adds `plan`'s rows, events and slot effect (and `w`'s pending allocation) to `cs`.
  static void AddPlan(const LiveWorker& w, const core::WorkerPlan& plan, TimeMs now,
                      store::ChangeSet& cs);
  static void AddPlanRows(const core::WorkerPlan& plan, store::ChangeSet& cs);
  // Commits `plan` (AddPlan), then memory follows (CommitPlanned) and its events are
  // published. True if the job changed.
  boost::asio::awaitable<Result<bool>> CommitPlan(LiveWorker& w, core::WorkerPlan plan, TimeMs now);
  // After the commit: memory follows (worker row, history, job row, the slot it released or
  // took). True if the job changed.
  bool CommitPlanned(LiveWorker& w, core::WorkerPlan&& plan);
  // The row changes of an attempt's end: ended_at (if it started), and how it exited.
  static void RecordEnd(core::Worker& r, TimeMs now, const std::optional<proc::ExitStatus>& exit);
  // The row changes that name the process of the current attempt (pid, pgid, cgroup).
  static void RecordProcess(core::Worker& r, const proc::Process& p);
  // The process of attempt `attempt` of `w` (callbacks wired to OnExit & co), not recorded.
  Result<std::shared_ptr<proc::Process>> StartProcess(const WorkerPtr& w, int attempt);
  proc::SpawnSpec BuildSpawnSpec(const LiveWorker& w, const Runtime* runtime, int attempt,
                                 const AgentAttempt& agent) const;
  // Arms the timeout and the stall clock of the job (if any) for the current attempt of `w`,
  // and starts them.
  void ArmTimeout(const WorkerPtr& w);
  void StartStallClock(const WorkerPtr& w);
  void StopStallClock(LiveWorker& w);
  void ArmStallTimer(const WorkerPtr& w, std::chrono::milliseconds after);

  boost::asio::awaitable<void> OnExit(WorkerPtr w, int attempt);
  boost::asio::awaitable<void> OnTimeout(WorkerPtr w, int attempt, uint64_t gen);
  // The stall timer fired: fails the attempt (STALLED) if no line came for stall_seconds,
  // else waits for what is left.
  boost::asio::awaitable<void> OnStall(WorkerPtr w, int attempt, uint64_t gen);
  boost::asio::awaitable<void> OnRetryDue(WorkerPtr w, int attempt);
  // A stop or continue notification: compares the record with what the kernel says the
  // process is doing now, so the daemon's own (possibly late) SIGSTOP/SIGCONT notifications
  // are never taken for someone else's.
  boost::asio::awaitable<void> OnStopOrContinue(WorkerPtr w);

  Context& ctx_;
  Scheduler& scheduler_;
  JobOperations& job_ops_;
};

}  // namespace overseer::service
