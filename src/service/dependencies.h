// Dependencies: jobs waiting PENDING for other jobs of their workspace to COMPLETE
// (`depends_on`). When the last one completes the job goes to the Scheduler's FIFO; when one
// ends otherwise the job is canceled (DEPENDENCY_FAILED, SPEC §2). Loop thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "service/context.h"

namespace overseer::service {

class JobOperations;
class Scheduler;

class Dependencies {
 public:
  Dependencies(Context& ctx, Scheduler& scheduler, JobOperations& jobs)
      : ctx_(ctx), scheduler_(scheduler), job_ops_(jobs) {}

  // `job` (recorded PENDING) waits for every job of its `waiting_on`; those that ended while
  // it was being recorded are looked at again at once.
  boost::asio::awaitable<void> WaitFor(JobPtr job);
  // Dependency `dep` ended: its dependents go on (COMPLETED) or are canceled — those held
  // here, and (ended otherwise) those job_dependencies lists that another writer holds.
  void AfterDependencyEnded(const core::Job& dep);

 private:
  // The most dependents one failed dependency's end reads from the database.
  static constexpr int kMaxDependents = 10000;
  // Cancels `held` and the stored dependents of `dep` no one here holds (DEPENDENCY_FAILED).
  boost::asio::awaitable<void> CancelDependents(core::Job dep, std::vector<JobPtr> held);

  Context& ctx_;
  Scheduler& scheduler_;
  JobOperations& job_ops_;
  // Jobs waiting for a dependency: dependency id -> the jobs that wait for it.
  std::unordered_map<std::string, std::vector<JobPtr>> dependents_;
};

}  // namespace overseer::service
