// Supervisor: the service that joins the store (durable state), the process manager
// (real processes) and the state machines of core. It owns the live workers and jobs of
// this daemon. Every entry point runs on the event loop thread and awaits the store on
// the BlockingPool; nothing here blocks the loop.
//
// Consistency: each live worker has an AsyncMutex held across every step of a state change
// (signal, store commit, memory update); a job's mutex is taken inside a worker's, never
// the other way round. A status change is committed to the store first, then to memory.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "common/time.h"
#include "core/planner.h"
#include "core/state_machine.h"
#include "core/types.h"
#include "proc/launcher.h"
#include "service/async_mutex.h"
#include "service/background_tasks.h"
#include "service/blocking_pool.h"
#include "service/commit_queue.h"
#include "service/event_bus.h"
#include "service/quota_book.h"
#include "service/runtime.h"
#include "service/worker_view.h"
#include "store/store.h"

namespace overseer::service {

// A validated job submission (the api layer parses and checks the JSON).
struct JobSpec {
  std::string name;
  std::string parent_job_id;            // "" = root (or the caller's own job for a worker token)
  std::optional<int> depth;             // if given, must equal parent depth + 1
  std::vector<std::string> depends_on;  // jobs of the workspace that must COMPLETE first
  int worker_count = 1;
  int64_t timeout_seconds = 0;  // 0 = none
  core::RetryPolicy retry;
  Task task;                  // parsed once, by its runtime
  std::string metadata_json;  // "{}" if none
};

// Who asks: the workspace, and the job a worker token is bound to ("" for operators).
struct Caller {
  std::string workspace_id;
  std::string job_id;
};

struct SupervisorOptions {
  std::string state_dir;   // logs go to <state_dir>/logs
  std::string daemon_url;  // OVERSEER_URL given to workers
  int max_depth = 5;
  int64_t log_max_bytes = 10 << 20;   // per worker log file (one rotated backup)
  std::vector<std::string> base_env;  // inherited by every worker ("K=V"), already filtered
  std::chrono::milliseconds timeout_grace{5000};  // SIGTERM -> SIGKILL on timeout
  // Worker slots per depth for a workspace without its own quotas (SPEC §3); depths past
  // the list repeat its last value.
  std::vector<int> default_quotas{10, 8, 5, 3, 2, 1};
};

// Mints the OVERSEER_TOKEN a worker gets, bound to its job; "" when the daemon cannot mint.
using TokenMinter = std::function<std::string(const std::string& workspace_id,
                                              const std::string& job_id, int depth)>;

struct JobView {
  core::Job job;
  std::vector<core::Worker> workers;
  std::vector<std::string> children;          // ids of direct child jobs (first 1000)
  std::vector<core::Allocation> allocations;  // held and released, oldest first (first 1000)
};

// A job and its descendants: the root first, then by depth and id.
struct JobTreeView {
  std::vector<core::Job> jobs;
  bool truncated = false;  // more than kMaxTreeJobs: the deepest were left out
};
inline constexpr int kMaxTreeJobs = 10000;

// Quotas of one workspace: depths 0..max_depth, each with its limit and the slots in use.
struct QuotaView {
  int depth = 0;
  int max_workers = 0;
  int used = 0;
};
struct QuotasView {
  int max_depth = 0;
  std::vector<QuotaView> quotas;
};

// Throughput since the daemon started, of one workspace or of them all.
struct Counters {
  int64_t jobs_submitted = 0;
  int64_t workers_spawned = 0;
  int64_t workers_exited = 0;
  int64_t spawn_failures = 0;
};

struct Metrics {
  std::vector<std::pair<core::WorkerState, int64_t>> workers_by_status;
  std::vector<std::pair<int, int64_t>> live_workers_by_depth;  // RUNNING or PAUSED
  int64_t uptime_seconds = 0;
  Counters counters;  // the caller's workspace
  // Daemon-wide figures, filled only when asked for (an operator's token): every workspace's
  // counters, and the commits (not kept per workspace: a group commit spans several).
  bool daemon_wide = false;
  Counters daemon_counters;
  int64_t commits = 0;              // status changes written (ChangeSets)
  int64_t commit_transactions = 0;  // database transactions that wrote them (group commit)
};

class Supervisor {
 public:
  Supervisor(boost::asio::io_context& io, BlockingPool& pool, store::Store& store,
             proc::Launcher& procs, SupervisorOptions options, TokenMinter minter,
             const Clock& clock);
  ~Supervisor();

  // At start, before serving: ends leftover processes of a killed daemon, marks every
  // RUNNING/PAUSED worker FAILED (SUPERVISOR_RESTART; retried if its policy allows),
  // respawns RETRYING ones, spawns IDLE ones and brings every job in line with its workers.
  boost::asio::awaitable<Status> Recover();

  // Creates a job with its workers (IDLE) and spawns them; answers the job as it is then.
  // Errors: kInvalidRequest (parent), kMaxDepthExceeded, kNotFound, kUnavailable.
  boost::asio::awaitable<Result<core::Job>> CreateJob(Caller caller, JobSpec spec);
  boost::asio::awaitable<Result<JobView>> GetJob(Caller caller, std::string id);
  boost::asio::awaitable<Result<store::Page<core::Job>>> ListJobs(Caller caller,
                                                                  store::JobQuery query);
  boost::asio::awaitable<Result<JobTreeView>> GetJobTree(Caller caller, std::string id);
  // Answers the job once it is terminal, or as it is when `timeout` has passed first.
  boost::asio::awaitable<Result<core::Job>> WaitJob(Caller caller, std::string id,
                                                    std::chrono::milliseconds timeout);
  // Cancels the job and every active descendant (CANCELED in one commit; the descendants
  // with reason PARENT_CANCELED), then terminates their workers within `grace`: wait=true
  // answers once those are gone. kNotFound; kInvalidStateTransition when the job is already
  // terminal; kInsufficientScope when a worker token reaches outside its own subtree.
  boost::asio::awaitable<Result<core::Job>> CancelJob(Caller caller, std::string id,
                                                      std::chrono::milliseconds grace, bool wait);

  boost::asio::awaitable<Result<WorkerView>> GetWorker(Caller caller, std::string id);
  boost::asio::awaitable<Result<store::Page<core::Worker>>> ListWorkers(Caller caller,
                                                                        store::WorkerQuery query);
  // Each answers the worker as it now is; kNotFound, kInvalidStateTransition.
  // Quotas and slots in use of the caller's workspace.
  QuotasView GetQuotas(const Caller& caller) const;
  // Sets the limits of the given depths (others keep theirs); jobs waiting for slots start
  // if they now fit. kInvalidRequest (depth beyond max_depth), kUnavailable.
  boost::asio::awaitable<Result<QuotasView>> SetQuotas(Caller caller,
                                                       std::vector<std::pair<int, int>> limits);

  // POST /api/resources/allocate: `worker_count` slots at `depth` for active job `job_id`,
  // all or nothing (kQuotaExceeded), held until released or the job ends.
  // kInvalidRequest (no such job, depth), kInvalidStateTransition (job terminal).
  boost::asio::awaitable<Result<core::Allocation>> Allocate(Caller caller, std::string job_id,
                                                            int depth, int worker_count);
  // POST /api/resources/release: one allocation made through the API (kNotFound if not held;
  // kInvalidStateTransition if it is a worker's), or every one of a job of the caller's
  // workspace (kNotFound if it has no such job). Answers those released.
  boost::asio::awaitable<Result<std::vector<core::Allocation>>> Release(Caller caller,
                                                                        std::string allocation_id,
                                                                        std::string job_id);

  boost::asio::awaitable<Result<core::Worker>> Pause(Caller caller, std::string id);
  boost::asio::awaitable<Result<core::Worker>> Resume(Caller caller, std::string id);
  // wait=true: answers once the process tree is gone (TERMINATED). wait=false: checks the
  // transition is legal, starts it, and answers the worker as it is.
  boost::asio::awaitable<Result<core::Worker>> Terminate(Caller caller, std::string id,
                                                         std::chrono::milliseconds grace,
                                                         bool wait);
  // Last `tail` lines of the worker's captured output.
  boost::asio::awaitable<Result<std::string>> Logs(Caller caller, std::string id, int tail);
  // Metrics of the caller's workspace; with `daemon_wide` (an operator's token) the
  // daemon-wide counters too.
  boost::asio::awaitable<Result<Metrics>> GetMetrics(Caller caller, bool daemon_wide);
  boost::asio::awaitable<Status> Ping();

  // True while the job exists here and is not terminal (worker tokens die with their job).
  bool IsJobActive(const std::string& job_id) const;

  // Terminates every live worker (SUPERVISOR_SHUTDOWN) within `grace`, then returns.
  boost::asio::awaitable<void> Shutdown(std::chrono::milliseconds grace);

  size_t live_worker_count() const { return workers_.size(); }
  // The runtimes of this daemon (a front end parses tasks with them).
  const Runtimes& runtimes() const { return runtimes_; }
  // The URL workers get as OVERSEER_URL (known once the server listens).
  void SetDaemonUrl(std::string url) { options_.daemon_url = std::move(url); }

 private:
  struct LiveJob;
  struct LiveWorker {
    core::Worker rec;
    std::shared_ptr<LiveJob> job;
    std::shared_ptr<proc::Process> process;
    AsyncMutex mu;
    std::unique_ptr<boost::asio::steady_timer> timeout_timer;
    std::unique_ptr<boost::asio::steady_timer> retry_timer;
    // The timeout clock of the current attempt runs only while the worker is RUNNING (a pause
    // stops it): what is left of it, and since when it runs. `timeout_gen` changes whenever the
    // clock stops or starts, so a timer that fired just before cannot end the attempt.
    std::optional<std::chrono::milliseconds> timeout_left;
    std::chrono::steady_clock::time_point timeout_started{};
    bool timeout_running = false;
    uint64_t timeout_gen = 0;
    // Set while a command waits for the kernel to report the process stopped or gone (Pause):
    // every exit, stop and continue notification of the process cancels it.
    std::shared_ptr<boost::asio::steady_timer> signal_waiter;
    std::optional<proc::ExitStatus> exit;  // of the current attempt, once reaped
    bool terminating = false;
    // Every transition row of this worker, oldest first, when this daemon wrote all of them
    // (created here); a worker loaded from the store at start has `history_complete` false.
    std::vector<core::Transition> history;
    bool history_complete = false;
    // The slot this worker holds (while RUNNING or RETRYING, or stopped from outside), and
    // one to be inserted with its next transition (resume).
    std::string allocation_id;
    std::optional<core::Allocation> new_allocation;
  };
  struct LiveJob {
    core::Job rec;
    std::optional<Task> task;  // parsed once (nullopt: a stored task that no longer parses)
    AsyncMutex mu;
    std::vector<std::shared_ptr<LiveWorker>> workers;
    std::weak_ptr<LiveJob> parent;                   // set while both are active
    std::vector<std::shared_ptr<LiveJob>> children;  // the active child jobs
    // Dependencies not yet COMPLETED (the job waits PENDING until this is empty).
    std::vector<std::string> waiting_on;
  };
  using WorkerPtr = std::shared_ptr<LiveWorker>;

  // Plans the transition of `w` by `event` (core::PlanWorkerTransition over its job and
  // siblings as they are now). Caller holds w->mu and the job's mu.
  Result<core::WorkerPlan> PlanTransition(const LiveWorker& w, core::WorkerEvent event,
                                          const std::string& reason,
                                          const std::function<void(core::Worker&)>& mutate,
                                          TimeMs now) const;
  // The rows of `w`'s job (pointers into memory, valid while the caller holds the job's mu).
  static std::vector<const core::Worker*> SiblingRows(const LiveWorker& w);
  static std::vector<const core::Worker*> JobRows(const LiveJob& job);
  static core::WorkerSubject Subject(const LiveWorker& w,
                                     const std::vector<const core::Worker*>& siblings);
  // Adds `plan`'s rows, events and slot effect (and `w`'s pending allocation) to `cs`.
  static void AddPlan(const LiveWorker& w, const core::WorkerPlan& plan, TimeMs now,
                      store::ChangeSet& cs);
  static void AddPlanRows(const core::WorkerPlan& plan, store::ChangeSet& cs);
  // After the commit: memory follows (worker row, history, job row, the slot it released or
  // took). True if the job changed.
  bool CommitPlanned(LiveWorker& w, core::WorkerPlan&& plan);

  // Moves `w` by `event`: builds the new row with `mutate`, lets the job follow, commits
  // both in one transaction, then updates memory. Caller holds w->mu and the job's mu (the
  // decision and the commit cannot interleave with another change of the job). True if the
  // job changed: the caller runs AfterJobChange once it has released the job's mu.
  boost::asio::awaitable<Result<bool>> TransitionHeld(
      const WorkerPtr& w, core::WorkerEvent event, std::string reason,
      const std::function<void(core::Worker&)>& mutate);
  // TransitionHeld under the job's mu, taken here; then AfterJobChange. Caller holds w->mu.
  boost::asio::awaitable<Status> Transition(const WorkerPtr& w, core::WorkerEvent event,
                                            std::string reason,
                                            const std::function<void(core::Worker&)>& mutate);
  // After a failure (w FAILED in memory is not yet written): FAILED, then RETRYING if the
  // policy allows. Caller holds w->mu.
  boost::asio::awaitable<Status> Fail(const WorkerPtr& w, std::string reason,
                                      std::optional<proc::ExitStatus> exit);
  // Spawns the next attempt of an IDLE or RETRYING worker, under its job's mu: nothing is
  // started for a job that has ended (kInvalidStateTransition). Caller holds w->mu.
  boost::asio::awaitable<Status> Spawn(const WorkerPtr& w);
  // Starts `to_start` (IDLE workers of `job`, slots already taken in the QuotaBook): one
  // allocation each, IDLE -> RUNNING, all added to `cs` and committed while their processes
  // spawn; their pids follow in a commit of their own. Caller holds the job's mu and every
  // worker's mu, and has checked the job is not terminal. On a failed commit memory is put
  // back, the slots are returned and the processes ended. Answers the workers whose process
  // could not start (the caller Fails them once it has released the job's mu).
  boost::asio::awaitable<Result<std::vector<WorkerPtr>>> StartWorkersHeld(
      const std::shared_ptr<LiveJob>& job, const std::vector<WorkerPtr>& to_start,
      store::ChangeSet& cs);
  // The process of attempt `attempt` of `w` (callbacks wired to OnExit & co), not recorded.
  Result<std::shared_ptr<proc::Process>> StartProcess(const WorkerPtr& w, int attempt);
  // The row changes of an attempt's end: ended_at (if it started), and how it exited.
  static void RecordEnd(core::Worker& r, TimeMs now, const std::optional<proc::ExitStatus>& exit);
  // The row changes that name the process of the current attempt (pid, pgid, cgroup).
  static void RecordProcess(core::Worker& r, const proc::Process& p);
  // Arms the timeout of the job (if any) for attempt `attempt` of `w`, and starts its clock.
  void ArmTimeout(const WorkerPtr& w);
  // Starts (resume) or stops (pause) the timeout clock of `w`'s current attempt.
  void StartTimeoutClock(const WorkerPtr& w);
  void StopTimeoutClock(LiveWorker& w);
  // Waits until the kernel reports `w`'s main process stopped or gone, at most `limit`;
  // answers its state then (kRunning if neither happened in time). Caller holds w->mu.
  boost::asio::awaitable<proc::MainState> AwaitStoppedOrGone(const WorkerPtr& w,
                                                             std::chrono::milliseconds limit);
  // A job's first attempt: records the job RUNNING and its workers in the same single commit
  // that inserts them (`cs`), spawning every worker while that commit is written; their pids
  // follow in a commit of their own. Callers hold every worker's mu.
  boost::asio::awaitable<Status> SpawnNewJob(const std::shared_ptr<LiveJob>& job,
                                             store::ChangeSet& cs);
  // Ends the process tree of `w` and waits until it is gone. Caller holds w->mu.
  boost::asio::awaitable<void> KillTree(const WorkerPtr& w, std::chrono::milliseconds grace);
  // Terminates `w` to TERMINATED with `reason`; takes the lock itself.
  boost::asio::awaitable<Status> TerminateLocked(WorkerPtr w, std::chrono::milliseconds grace,
                                                 std::string reason);

  boost::asio::awaitable<void> OnExit(WorkerPtr w, int attempt);
  boost::asio::awaitable<void> OnTimeout(WorkerPtr w, int attempt, uint64_t gen);
  boost::asio::awaitable<void> OnRetryDue(WorkerPtr w, int attempt);
  // A stop or continue notification: compares the record with what the kernel says the
  // process is doing now, so the daemon's own (possibly late) SIGSTOP/SIGCONT notifications
  // are never taken for someone else's.
  boost::asio::awaitable<void> OnStopOrContinue(WorkerPtr w);
  // A job changed: once it is terminal, wakes its waiters, ends the rest of a FAILED job
  // (its workers, its active children), lets its parent complete and forgets it when
  // nothing of it can change any more.
  void AfterJobChange(const std::shared_ptr<LiveJob>& job);
  // A job whose last active child ended: COMPLETED if all its workers are.
  boost::asio::awaitable<void> CompleteIfDone(std::shared_ptr<LiveJob> job);
  // Cancels `roots` (reason `reason`) and their active descendants (PARENT_CANCELED) in one
  // commit; answers the workers still to terminate. kInvalidStateTransition if every root
  // was already terminal.
  boost::asio::awaitable<Result<std::vector<WorkerPtr>>> CancelJobs(
      std::vector<std::shared_ptr<LiveJob>> roots, std::string reason);
  // Cancels `roots` and their descendants and terminates their workers (a FAILED parent's
  // children).
  boost::asio::awaitable<void> CancelCascade(std::vector<std::shared_ptr<LiveJob>> roots,
                                             std::string reason);
  // Terminates every worker of `workers` in parallel; resumes when all are done.
  boost::asio::awaitable<void> TerminateAll(std::vector<WorkerPtr> workers,
                                            std::chrono::milliseconds grace, std::string reason);
  // Slots: a new allocation row of one slot for worker `worker_id` of `job`.
  core::Allocation NewAllocation(const LiveJob& job, const std::string& worker_id,
                                 TimeMs now) const;
  // The 409 QUOTA_EXCEEDED of a request for `requested` slots at (ws, depth), with the
  // quota and the slots in use as details; `message` says what to do.
  Error QuotaExceeded(const std::string& ws, int depth, int requested, std::string message) const;
  // A worker going from PAUSED to RUNNING: whether it needs a slot (its pause gave its own back),
  // taking one as its `new_allocation` (written by the next Transition), and giving that back
  // when the transition does not happen (nothing if it has none pending).
  static bool NeedsSlot(const LiveWorker& w);
  void TakeSlotFor(LiveWorker& w);
  void ReturnUnusedSlot(LiveWorker& w);
  // Gives `n` slots back and starts the queued jobs of (ws, depth) that now fit.
  void ReleaseSlots(const std::string& ws, int depth, int n);
  // Starts, in FIFO order, the jobs waiting for slots at (ws, depth) while they fit.
  void ScheduleQueued(const std::string& ws, int depth);
  // Slots a job still needs to start: its IDLE workers without one.
  static int SlotsNeeded(const LiveJob& job);
  // Releases the API allocations `ids` (still held) in one commit; answers them released.
  boost::asio::awaitable<Result<std::vector<core::Allocation>>> ReleaseApiAllocations(
      std::vector<std::string> ids);
  // The status of job `id` of workspace `ws`: from memory while it is active, else from the
  // store (kNotFound if there is no such job).
  boost::asio::awaitable<Result<core::JobState>> JobStatusOf(std::string ws, std::string id);
  // Puts a job whose dependencies are done into the FIFO for slots, and schedules it.
  void Enqueue(const std::shared_ptr<LiveJob>& job);
  // Dependency `dep` ended: its dependents go on (COMPLETED) or are canceled.
  void AfterDependencyEnded(const core::Job& dep);
  // A queued job whose slots were just taken: records its allocations, spawns its workers.
  boost::asio::awaitable<void> StartQueued(std::shared_ptr<LiveJob> job, int slots);

  // True if job `id` is `ancestor` or lies below it (walks up through memory and the store).
  boost::asio::awaitable<bool> WithinSubtree(std::string workspace_id, std::string ancestor,
                                             std::string id);
  // The worker-token rule: an operator reaches every job of its workspace, a worker token its
  // own job and the jobs below it.
  boost::asio::awaitable<bool> CallerReaches(Caller caller, std::string job_id);
  void Forget(const std::shared_ptr<LiveJob>& job);

  // Finds a worker visible to `caller`: live, else from the store (kNotFound either way).
  WorkerPtr FindLive(const Caller& caller, const std::string& id) const;
  boost::asio::awaitable<Error> NotLiveError(const Caller& caller, std::string id,
                                             core::WorkerEvent requested);

  proc::SpawnSpec BuildSpawnSpec(const LiveWorker& w) const;
  std::string LogPath(const std::string& worker_id) const;

  boost::asio::io_context& io_;
  BlockingPool& pool_;
  store::Store& store_;
  proc::Launcher& procs_;
  SupervisorOptions options_;
  TokenMinter minter_;
  const Clock& clock_;
  TimeMs started_at_;

  Runtimes runtimes_;
  CommitQueue commits_;    // every status change goes through it (group commit)
  BackgroundTasks tasks_;  // every coroutine started and not awaited; drained at shutdown
  EventBus bus_;           // the events of committed changes, after memory followed
  std::unordered_map<std::string, WorkerPtr> workers_;
  std::unordered_map<std::string, std::shared_ptr<LiveJob>> jobs_;
  QuotaBook quotas_;
  // Jobs waiting for a dependency: dependency id -> the jobs that wait for it.
  std::unordered_map<std::string, std::vector<std::shared_ptr<LiveJob>>> dependents_;
  // Allocations made through the API and still held, by id.
  std::unordered_map<std::string, core::Allocation> api_allocations_;
  // Jobs waiting for slots, FIFO per (workspace, depth).
  std::map<std::pair<std::string, int>, std::deque<std::shared_ptr<LiveJob>>> queued_;
  Counters counters_;                                             // daemon-wide
  std::unordered_map<std::string, Counters> workspace_counters_;  // the same, per workspace
  bool shutting_down_ = false;
};

}  // namespace overseer::service
