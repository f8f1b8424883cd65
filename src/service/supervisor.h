// Supervisor: the composition root of the service layer. It owns the shared Context (ports,
// change pipeline, live state) and the services that work on it, wires them to each other,
// and runs the daemon's start (Recover) and stop (Shutdown). Front ends (REST now, MCP
// later) call the services it hands out:
//   jobs()        JobOperations   create, wait, cancel; what follows a job's change
//   workers()     WorkerCommands  pause, resume, terminate one worker
//   scheduler()   Scheduler       quotas, slots, the FIFO of jobs waiting for slots
//   allocations() Allocations     slots allocated and released through the API
//   queries()     Queries         reads: jobs, tree, workers, logs, metrics, health
//   access()      Access          who may reach what (worker tokens confined to a subtree)
//   halts()       Halts           the kill switch: halt / unhalt a subtree or the workspace
//   budgets()     Budgets         subtree budgets: set (PATCH), charge usage, halt when spent
// (WorkerRunner, Dependencies and Recovery work behind them.) Loop thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "service/access.h"
#include "service/allocations.h"
#include "service/budgets.h"
#include "service/context.h"
#include "service/dependencies.h"
#include "service/halts.h"
#include "service/job_operations.h"
#include "service/queries.h"
#include "service/recovery.h"
#include "service/scheduler.h"
#include "service/types.h"
#include "service/worker_commands.h"
#include "service/worker_runner.h"

namespace overseer::service {

class Supervisor {
 public:
  // `metrics`: the app's registry (the services' counters go there); nullptr: one of its own.
  Supervisor(boost::asio::io_context& io, BlockingPool& pool, store::Store& store,
             proc::Launcher& procs, SupervisorOptions options, TokenMinter minter,
             const Clock& clock, MetricsRegistry* metrics = nullptr);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  JobOperations& jobs() { return jobs_; }
  WorkerCommands& workers() { return commands_; }
  Scheduler& scheduler() { return scheduler_; }
  Allocations& allocations() { return allocations_; }
  Queries& queries() { return queries_; }
  Access& access() { return access_; }
  Halts& halts() { return halts_; }
  Budgets& budgets() { return budgets_; }

  // At start, before serving (the workspace halts, then Recovery).
  boost::asio::awaitable<Status> Recover();
  // Terminates every live worker (SUPERVISOR_SHUTDOWN) within `grace`, waits for what that
  // set off (exits to record, cascades), then returns.
  boost::asio::awaitable<void> Shutdown(std::chrono::milliseconds grace);

  size_t live_worker_count() const { return ctx_.workers.size(); }
  // The runtimes of this daemon (a front end parses tasks with them).
  const Runtimes& runtimes() const { return ctx_.runtimes; }
  // The URL workers get as OVERSEER_URL (known once the server listens).
  void SetDaemonUrl(std::string url) { ctx_.options.daemon_url = std::move(url); }

 private:
  std::unique_ptr<MetricsRegistry> own_metrics_;  // when the app gave none
  Context ctx_;
  // Each service gets references to the ones it calls; some are constructed after it (the
  // references are only used once all exist).
  Access access_{ctx_};
  Scheduler scheduler_{ctx_, runner_};
  Allocations allocations_{ctx_, scheduler_, access_};
  Dependencies deps_{ctx_, scheduler_, jobs_};
  WorkerRunner runner_{ctx_, scheduler_, jobs_};
  JobOperations jobs_{ctx_, runner_, scheduler_, deps_, allocations_, access_, halts_, budgets_};
  WorkerCommands commands_{ctx_, runner_, scheduler_, jobs_, access_};
  Halts halts_{ctx_, runner_, scheduler_, jobs_, access_};
  Budgets budgets_{ctx_, halts_, access_};
  Queries queries_{ctx_};
  Recovery recovery_{ctx_, runner_, scheduler_, deps_, allocations_, jobs_, access_};
};

}  // namespace overseer::service
