// JobOperations: a job's life as a whole — creating it (with its workers, under its parent,
// after its dependencies), waiting for it, canceling it with its subtree, and what follows
// when it changes: once terminal, its waiters wake (EventBus), the rest of a FAILED job ends,
// its parent may complete, its slots and dependents move on, and it is forgotten. Loop thread
// only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "service/context.h"

namespace overseer::service {

class Access;
class Allocations;
class Dependencies;
class Halts;
class Budgets;
class Scheduler;
class WorkerRunner;

class JobOperations {
 public:
  JobOperations(Context& ctx, WorkerRunner& runner, Scheduler& scheduler, Dependencies& deps,
                Allocations& allocations, Access& access, Halts& halts, Budgets& budgets)
      : ctx_(ctx),
        runner_(runner),
        scheduler_(scheduler),
        deps_(deps),
        allocations_(allocations),
        access_(access),
        halts_(halts),
        budgets_(budgets) {}

  // Creates a job with its workers (IDLE) and spawns them; answers the job as it is then.
  // Errors: kInvalidRequest (parent, depth, dependencies), kMaxDepthExceeded, kQuotaExceeded,
  // kInsufficientScope, kInvalidStateTransition (parent ended), kHalted (the parent is inside
  // a halted subtree, or a root job in a halted workspace), kUnavailable.
  boost::asio::awaitable<Result<core::Job>> CreateJob(Caller caller, JobSpec spec);
  // Answers the job once it is terminal, or as it is when `timeout` has passed first.
  boost::asio::awaitable<Result<core::Job>> WaitJob(Caller caller, std::string id,
                                                    std::chrono::milliseconds timeout);
  // Cancels the job and every active descendant (CANCELED in one commit; the descendants
  // with reason PARENT_CANCELED), then terminates their workers within `grace`: wait=true
  // answers once those are gone. kNotFound; kInvalidStateTransition when the job is already
  // terminal; kInsufficientScope when a worker token reaches outside its own subtree.
  boost::asio::awaitable<Result<core::Job>> CancelJob(Caller caller, std::string id,
                                                      std::chrono::milliseconds grace, bool wait);

  // A job changed (committed, memory followed): once it is terminal, ends the rest of a
  // FAILED job (its workers, its active children), lets its parent complete, hands its
  // slots, dependents and API allocations on, and forgets it when nothing of it can change.
  void AfterJobChange(const JobPtr& job);
  // Cancels `roots` and their descendants and terminates their workers (a FAILED parent's
  // children, a failed dependency's dependents, a halt) with `worker_reason` within `grace`
  // (default: the daemon's timeout grace).
  // `stored_roots`: rows of jobs this daemon does not hold (read from the database: a failed
  // dependency's dependents written by another daemon), canceled by compare-and-set with the
  // rest; their processes, if any, are the other daemon's to end.
  boost::asio::awaitable<void> CancelCascade(
      std::vector<JobPtr> roots, std::string reason, std::string worker_reason = "JOB_CANCELED",
      std::optional<std::chrono::milliseconds> grace = std::nullopt,
      std::vector<core::Job> stored_roots = {});

 private:
  // The depth of a new job under `parent_id` ("" = a root): the parent exists in the caller's
  // workspace, within a worker token's subtree, is not terminal; the depth is the one asked
  // for (if any) and within max_depth.
  boost::asio::awaitable<Result<int>> DepthUnder(const Caller& caller, const std::string& parent_id,
                                                 std::optional<int> requested_depth);
  // Dependencies: each must be a job of the workspace (400 otherwise).
  struct DependencyCheck {
    std::vector<std::string> waiting_on;  // not yet COMPLETED
    bool failed = false;                  // one already FAILED or CANCELED
  };
  boost::asio::awaitable<Result<DependencyCheck>> CheckDependencies(
      const Caller& caller, const std::vector<std::string>& depends_on);
  // Cancels `roots` and `stored_roots` (reason `reason`) and their active descendants
  // (PARENT_CANCELED) in one commit; answers the workers still to terminate.
  // kInvalidStateTransition if every root was already terminal. The descendants are the ones
  // held here (found through memory, under their locks) and the ones the closure table lists
  // that no one here holds (another writer's rows: compare-and-set against what was read,
  // read again and retried once on kConflict).
  // `answer_in_outage` (a cancel through the API): a lock held longer than kLockPatience while
  // the database is unreachable (a worker's exit waiting to be written holds its job's) answers
  // kUnavailable instead of waiting for the database with it.
  boost::asio::awaitable<Result<std::vector<WorkerPtr>>> CancelJobs(
      std::vector<JobPtr> roots, std::string reason, std::vector<core::Job> stored_roots = {},
      bool answer_in_outage = false);
  boost::asio::awaitable<Result<std::vector<WorkerPtr>>> CancelJobsOnce(
      const std::vector<JobPtr>& roots, const std::string& reason,
      const std::vector<core::Job>& stored_roots, bool answer_in_outage);
  static constexpr std::chrono::milliseconds kLockPatience{1000};
  // The active descendants of the roots as the database lists them (one closure-table lookup
  // per root not already below another), by depth and id, without duplicates.
  boost::asio::awaitable<Result<std::vector<core::Job>>> ActiveBelow(
      const std::vector<JobPtr>& roots, const std::vector<core::Job>& stored_roots);
  // The most rows one cancel reads below one root.
  static constexpr int kMaxCascadeJobs = 10000;
  // A job whose last active child ended: COMPLETED if all its workers are.
  boost::asio::awaitable<void> CompleteIfDone(JobPtr job);

  Context& ctx_;
  WorkerRunner& runner_;
  Scheduler& scheduler_;
  Dependencies& deps_;
  Allocations& allocations_;
  Access& access_;
  Halts& halts_;
  Budgets& budgets_;
};

}  // namespace overseer::service
