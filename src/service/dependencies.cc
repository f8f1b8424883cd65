#include "service/dependencies.h"

#include <spdlog/spdlog.h>

#include "service/coroutines.h"
#include "service/job_operations.h"
#include "service/scheduler.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::JobState;

asio::awaitable<void> Dependencies::WaitFor(JobPtr job) {
  for (const std::string& dep : job->waiting_on) dependents_[dep].push_back(job);
  // A dependency may have ended while this job was being recorded: look again.
  const std::string ws = job->rec.workspace_id;
  for (const std::string& dep : std::vector<std::string>(job->waiting_on)) {
    if (JobPtr live = ctx_.FindJob(ws, dep); live && !core::IsTerminalJobState(live->rec.status)) {
      continue;
    }
    Result<core::Job> d =
        co_await RunBlocking(ctx_.pool, [this, &ws, &dep] { return ctx_.store.GetJob(ws, dep); });
    if (d && core::IsTerminalJobState(d->status)) AfterDependencyEnded(*d);
  }
}

void Dependencies::AfterDependencyEnded(const core::Job& dep) {
  std::vector<JobPtr> to_cancel;
  if (auto it = dependents_.find(dep.id); it != dependents_.end()) {
    std::vector<JobPtr> waiting = std::move(it->second);
    dependents_.erase(it);
    for (const auto& job : waiting) {
      if (core::IsTerminalJobState(job->rec.status)) continue;
      if (dep.status == JobState::kCompleted) {
        std::erase(job->waiting_on, dep.id);
        if (job->waiting_on.empty()) scheduler_.Enqueue(job);
      } else {
        to_cancel.push_back(job);  // SPEC §2: PENDING -> CANCELED (DEPENDENCY_FAILED)
      }
    }
  }
  // A failed dependency also cancels the dependents job_dependencies lists that no one here
  // holds (another writer's); a completed one leaves them to whoever holds them.
  if (dep.status != JobState::kCompleted && !ctx_.shutting_down) {
    ctx_.tasks.Spawn(CancelDependents(dep, std::move(to_cancel)), "cancel dependents");
  }
}

asio::awaitable<void> Dependencies::CancelDependents(core::Job dep, std::vector<JobPtr> held) {
  Result<std::vector<core::Job>> rows = co_await RunBlocking(ctx_.pool, [this, &dep] {
    return ctx_.store.ListActiveDependents(dep.workspace_id, dep.id, kMaxDependents);
  });
  std::vector<core::Job> stored;
  if (rows) {
    for (core::Job& row : *rows) {
      if (!ctx_.FindJob(row.workspace_id, row.id)) stored.push_back(std::move(row));
    }
  } else {
    spdlog::warn("job {}: reading its dependents: {} (only the ones held here are canceled)",
                 dep.id, rows.error().message);
  }
  if (held.empty() && stored.empty()) co_return;
  co_await job_ops_.CancelCascade(std::move(held), "DEPENDENCY_FAILED", "JOB_CANCELED",
                                  std::nullopt, std::move(stored));
}

}  // namespace overseer::service
