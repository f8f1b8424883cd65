// Context: what the services of this layer share — the ports they work through (store,
// launcher, clock, blocking pool), the change pipeline (commit queue, event bus), the tracked
// background tasks, and the live state of this daemon: the jobs and workers it supervises.
// The Supervisor (the composition root) owns one and hands it to every service; each
// service owns only its own part of the state (the scheduler its quotas and FIFO, the
// allocations their API slots, ...).
//
// Consistency: each live worker has an AsyncMutex held across every step of a state change
// (signal, store commit, memory update); a job's mutex is taken inside a worker's, never the
// other way round. A status change is committed to the store first, then to memory, then
// published. Loop thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/metrics.h"
#include "common/time.h"
#include "core/budget.h"
#include "core/planner.h"
#include "core/types.h"
#include "proc/launcher.h"
#include "service/async_mutex.h"
#include "service/background_tasks.h"
#include "service/blocking_pool.h"
#include "service/commit_queue.h"
#include "service/event_bus.h"
#include "service/runtime.h"
#include "service/runtimes/agent_record.h"
#include "service/throughput.h"
#include "service/types.h"
#include "store/store.h"

namespace overseer::service {

struct LiveJob;

// A worker this daemon supervises (active, or ended but its job not yet forgotten).
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
  // Set when the daemon sent SIGSTOP and recorded PAUSED without the kernel's word that the
  // process stopped (AwaitStoppedOrGone timed out: a loaded machine, an uninterruptible
  // sleep); cleared once it is seen stopped or the daemon continues it. Meanwhile a process
  // seen running is one whose stop is still pending (or whose late notification of an earlier
  // SIGCONT arrived), not one someone else continued: it is stopped again, not recorded
  // CONTINUED_EXTERNALLY.
  bool stop_unconfirmed = false;
  std::optional<proc::ExitStatus> exit;  // of the current attempt, once reaped
  bool terminating = false;
  // Set while OnExit / OnTimeout record how the process ended: what already happened cannot be
  // refused, so those commits wait out a database outage (Durability::kUntilWritten).
  bool recording_end = false;
  // Every transition row of this worker, oldest first, when this daemon wrote all of them
  // (created here); a worker loaded from the store at start has `history_complete` false.
  std::vector<core::Transition> history;
  bool history_complete = false;
  // The slot this worker holds (while RUNNING or RETRYING, or stopped from outside), and
  // one to be inserted with its next transition (resume). A slot taken within the quota (a
  // resume, an unhalt) carries that quota to its commit too (`new_allocation_limit`): the
  // database refuses the commit when writers on other connections (another daemon on the same
  // database) have filled the depth meanwhile.
  std::string allocation_id;
  std::optional<core::Allocation> new_allocation;
  std::optional<store::SlotLimit> new_allocation_limit;
  // Agent runtimes (worker_agent.h): the parser of the current attempt's stream (of attempt
  // `parser_attempt`), the `agent` record as the attempt started, and whether the attempt
  // resumed that record's conversation.
  std::unique_ptr<OutputParser> parser;
  int parser_attempt = 0;
  AgentRecord agent_prior;
  bool agent_resumed = false;
  // The stall clock (job stall_seconds): the time since the last output line, not counting
  // paused time. While it runs, `stall_since` is when it counts from; stopped, `stall_elapsed`
  // is what it had counted. `stall_gen` changes whenever it stops or starts.
  std::unique_ptr<boost::asio::steady_timer> stall_timer;
  std::chrono::steady_clock::time_point stall_since{};
  std::chrono::milliseconds stall_elapsed{0};
  bool stall_running = false;
  uint64_t stall_gen = 0;
};
using WorkerPtr = std::shared_ptr<LiveWorker>;

// A job this daemon supervises (active, or ended but some worker of it still live).
struct LiveJob {
  core::Job rec;
  std::optional<Task> task;  // parsed once (nullopt: a stored task that no longer parses)
  AsyncMutex mu;
  std::vector<WorkerPtr> workers;
  std::weak_ptr<LiveJob> parent;                   // set while both are active
  std::vector<std::shared_ptr<LiveJob>> children;  // the active child jobs
  // Dependencies not yet COMPLETED (the job waits PENDING until this is empty).
  std::vector<std::string> waiting_on;
  // Budgets (service/budgets.h): the reservations of jobs being created below this one and
  // not linked yet, whether a halt for its spent budget is under way, and whether its usage
  // changed since it was last written (then it is on Budgets' list of jobs to write).
  core::Reservation pending_reserved;
  bool budget_exhausting = false;
  bool usage_dirty = false;
};
using JobPtr = std::shared_ptr<LiveJob>;

// The rows of a job's workers (pointers into memory, valid while the caller holds its mu).
std::vector<const core::Worker*> JobRows(const LiveJob& job);
// What the core planners see of `w`: its row, its job, its siblings' rows, its slot.
core::WorkerSubject Subject(const LiveWorker& w, const std::vector<const core::Worker*>& siblings);
// A new allocation row of one slot for worker `worker_id` of `job`.
core::Allocation NewAllocation(const LiveJob& job, const std::string& worker_id, TimeMs now);
// A worker going from PAUSED to RUNNING needs a slot when its pause gave its own back.
bool NeedsSlot(const LiveWorker& w);

struct Context {
  Context(boost::asio::io_context& io, BlockingPool& pool, store::Store& store,
          proc::Launcher& procs, SupervisorOptions options, TokenMinter minter, const Clock& clock,
          MetricsRegistry& metrics);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  boost::asio::io_context& io;
  BlockingPool& pool;
  store::Store& store;
  proc::Launcher& procs;
  SupervisorOptions options;
  TokenMinter minter;
  const Clock& clock;
  MetricsRegistry& metrics;
  TimeMs started_at;

  Runtimes runtimes;
  CommitQueue commits;    // every status change goes through it (group commit)
  BackgroundTasks tasks;  // every coroutine started and not awaited; drained at shutdown
  EventBus bus;           // the events of committed changes, after memory followed
  Throughput throughput;  // jobs submitted, workers spawned and exited (in `metrics`)

  std::unordered_map<std::string, WorkerPtr> workers;
  std::unordered_map<std::string, JobPtr> jobs;
  bool shutting_down = false;
  // Where an agent's usage reports go as they arrive (Budgets::Charge, wired by the root).
  std::function<void(LiveWorker&, const UsageDelta&)> charge_usage;

  // The live worker `id` of the caller's workspace, or nullptr.
  WorkerPtr FindWorker(const std::string& workspace_id, const std::string& id) const;
  // The live job `id` of the workspace, or nullptr.
  JobPtr FindJob(const std::string& workspace_id, const std::string& id) const;
  // Drops the job and its workers from memory once nothing of theirs can change.
  void Forget(const JobPtr& job);
  std::string LogPath(const std::string& worker_id) const;
};

}  // namespace overseer::service
