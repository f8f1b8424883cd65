// Budgets: subtree budgets (SPEC §11). A job may carry a budget (USD, tokens, max_children,
// max_descendants, on_exhausted); decisions are core/budget.h's, this service keeps the live
// figures and carries the decisions out:
//   - admission (JobOperations::CreateJob, under the parent's mu): a new job's budget is
//     reserved from the pool above it, the fan-out caps are checked and its ancestors' job
//     counts taken, all at once on the loop (no await between check and take);
//   - charging: each usage report of an agent's stream (FeedAgentOutput's UsageDelta) is added
//     to its job and every job above it as it arrives; a budgeted job whose subtree has spent
//     its budget is halted (Halts, a halt with `budget` set: freeze = pause, or terminate;
//     reason BUDGET_EXHAUSTED, event budget.exhausted);
//   - PATCH /api/jobs/{id} sets a job's budget (the increase reserved like a new one) and lifts
//     the halt of a budget it no longer spends;
//   - usage is kept in memory (LiveJob rec.usage) and written to the store within
//     kFlushDelay of changing (ChangeSet::job_usages), and at shutdown.
// Loop thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/budget.h"
#include "service/context.h"

namespace overseer::service {

class Halts;
class Access;

// What a job answers of its budget (GET /api/jobs/{id}): what is left to it — its own
// budget's, or, without one, the pool's it shares — nullopt when no budget applies.
std::optional<core::BudgetLeft> BudgetLeftFor(const LiveJob& job);
// A stored job's (not live): its own budget less its usage.
std::optional<core::BudgetLeft> BudgetLeftOf(const core::Job& job);
// The USD the subtrees `job` lies in have left (the least over its budgeted ancestors and
// itself), for claude's --max-budget-usd backstop; nullopt when none sets USD.
std::optional<double> UsdLeftFor(const LiveJob& job);

// Taken by Admit for a job being created; handed back by Abandon if it is not created, or by
// Linked once it is a child of its parent.
struct BudgetAdmission {
  JobPtr parent;               // nullptr: a root job
  JobPtr pool;                 // the budgeted job the new budget is reserved from, or nullptr
  core::Reservation reserved;  // pending on `pool` until linked
};

class Budgets {
 public:
  Budgets(Context& ctx, Halts& halts, Access& access) : ctx_(ctx), halts_(halts), access_(access) {}
  ~Budgets();
  Budgets(const Budgets&) = delete;
  Budgets& operator=(const Budgets&) = delete;

  // A new job with `budget` under `parent` (nullptr: a root): 422 BUDGET_EXCEEDED if its
  // budget does not fit what the pool above has left, if one more job exceeds the parent's
  // max_children or an ancestor's max_descendants, or if a subtree it would be in has spent
  // its budget. On success the counts are taken (synchronously, on the loop).
  Result<BudgetAdmission> Admit(const JobPtr& parent, const std::optional<core::Budget>& budget);
  // The job was not created: its counts and reservation are given back.
  void Abandon(const BudgetAdmission& a);
  // The job is linked to its parent (its reservation is now counted through the parent's
  // children).
  void Linked(const BudgetAdmission& a);

  // One usage report of an attempt of `w` (negative parts charge nothing).
  void Charge(LiveWorker& w, const UsageDelta& delta);

  // PATCH /api/jobs/{id} {"budget": ...}: replaces job `id`'s budget (nullopt removes it).
  // kNotFound; kInsufficientScope (a worker token: only for jobs below its own);
  // kInvalidStateTransition (the job has ended); kBudgetExceeded (the increase does not fit
  // the pool above). A budget no longer spent lifts its BUDGET_EXHAUSTED halt (the subtree
  // resumes); one spent already halts it.
  boost::asio::awaitable<Result<core::Job>> SetBudget(Caller caller, std::string id,
                                                      std::optional<core::Budget> budget);

  // Writes every changed usage now (at shutdown).
  boost::asio::awaitable<void> Flush();

  // How long a usage change may wait before it is written.
  static constexpr std::chrono::milliseconds kFlushDelay{1000};

 private:
  void MarkDirty(const JobPtr& job);
  // Halts `job`'s subtree for its spent `limit` (a tracked task).
  boost::asio::awaitable<void> Exhaust(JobPtr job, std::string limit);
  // Starts Exhaust for `job` if its budget is spent and nothing halts it yet.
  void CheckSpent(const JobPtr& job);

  Context& ctx_;
  Halts& halts_;
  Access& access_;
  std::vector<JobPtr> dirty_;  // usage changed since the last write (LiveJob::usage_dirty)
  std::unique_ptr<boost::asio::steady_timer> flush_timer_;
};

}  // namespace overseer::service
