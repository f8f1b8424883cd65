// Scheduler: admission of work by worker slots (SPEC §3) — the quotas per workspace and
// depth (QuotaBook), the slot each running worker holds, and the strict FIFO per (workspace,
// depth) of jobs waiting for slots. A job whose dependencies are done is admitted here;
// budgets (#11) will be checked here too. Starting admitted workers is the WorkerRunner's.
// Loop thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "service/context.h"
#include "service/quota_book.h"

namespace overseer::service {

class WorkerRunner;

class Scheduler {
 public:
  Scheduler(Context& ctx, WorkerRunner& runner);

  // Quotas and slots in use of the caller's workspace.
  QuotasView GetQuotas(const Caller& caller) const;
  // Sets the limits of the given depths (others keep theirs); jobs waiting for slots start
  // if they now fit. kInvalidRequest (depth beyond max_depth), kUnavailable.
  boost::asio::awaitable<Result<QuotasView>> SetQuotas(Caller caller,
                                                       std::vector<std::pair<int, int>> limits);
  // A job of `worker_count` workers that could never start under the quota of `depth`: the
  // 409 QUOTA_EXCEEDED (refused now rather than queued forever).
  Status CheckCanEverStart(const std::string& ws, int depth, int worker_count) const;
  // A job's first attempt, in the single commit `cs` that inserts it (callers hold every
  // worker's mu): started at once when its slots are free and nobody waits ahead of it, else
  // recorded PENDING (WAITING_FOR_QUOTA, queued; or WAITING_FOR_DEPENDENCIES). Either way
  // the job and its workers are live in memory once this answers OK. `still_open` (optional)
  // is asked in the step that makes the job live, before anything is written: its error
  // refuses the job (a workspace halt recorded while a root job was being created).
  boost::asio::awaitable<Status> Admit(const JobPtr& job, store::ChangeSet& cs,
                                       const std::function<Status()>& still_open = nullptr);
  // Puts a job whose dependencies are done into the FIFO for slots, and schedules it.
  void Enqueue(const JobPtr& job);
  // Starts, in FIFO order, the jobs waiting for slots at (ws, depth) while they fit.
  void ScheduleQueued(const std::string& ws, int depth);

  // A worker going back to RUNNING without a slot takes one as its `new_allocation` (written
  // by its next transition): TakeSlotFor even over the quota (the process runs anyway),
  // TakeFreeSlotFor only within it (else 409 QUOTA_EXCEEDED: a resume), and then the commit
  // of that transition carries the quota (`new_allocation_limit`, see SlotLimitOf) so the
  // database refuses it (kQuotaExceeded) if other writers filled the depth meanwhile.
  void TakeSlotFor(LiveWorker& w);
  Status TakeFreeSlotFor(LiveWorker& w);
  // Gives back a slot taken for `w` whose transition did not happen (nothing if none).
  void ReturnUnusedSlot(LiveWorker& w);
  // `n` slots at (ws, depth), all or nothing: 409 QUOTA_EXCEEDED saying `what_to_do`.
  Status TakeSlots(const std::string& ws, int depth, int n, const std::string& what_to_do);
  // Gives `n` slots back and starts the queued jobs of (ws, depth) that now fit.
  void ReleaseSlots(const std::string& ws, int depth, int n);
  // At start: the stored limits, and slots held by recovered workers and allocations.
  void LoadLimits(const std::vector<core::Quota>& rows);
  void Adopt(const std::string& ws, int depth, int n);

  int max_depth() const { return quotas_.max_depth(); }
  // The quota of (ws, depth) as a ChangeSet check: the database refuses the commit if the
  // slots held there, by every writer, would exceed it (several daemons on one database).
  store::SlotLimit SlotLimitOf(const std::string& ws, int depth) const {
    return store::SlotLimit{ws, depth, quotas_.Limit(ws, depth)};
  }

 private:
  // The 409 QUOTA_EXCEEDED of a request for `requested` slots at (ws, depth), with the
  // quota and the slots in use as details; `message` says what to do.
  Error QuotaExceeded(const std::string& ws, int depth, int requested, std::string message) const;
  // Slots a job still needs to start: its IDLE workers without one.
  static int SlotsNeeded(const LiveJob& job);
  // A queued job whose slots were just taken: records its allocations, spawns its workers.
  // Refused by the database (other writers hold the slots, or it is unreachable), the job goes
  // back to the head of its queue, tried again kStartRetryDelay later (RetryLater): another
  // daemon's release is no event here.
  boost::asio::awaitable<void> StartQueued(JobPtr job, int slots);
  void RetryLater(const std::string& ws, int depth);
  static constexpr std::chrono::milliseconds kStartRetryDelay{1000};

  Context& ctx_;
  WorkerRunner& runner_;
  QuotaBook quotas_;
  // Jobs waiting for slots, FIFO per (workspace, depth).
  std::map<std::pair<std::string, int>, std::deque<JobPtr>> queued_;
  // The queues RetryLater tries again when retry_timer_ fires.
  std::set<std::pair<std::string, int>> retry_due_;
  std::unique_ptr<boost::asio::steady_timer> retry_timer_;
};

}  // namespace overseer::service
