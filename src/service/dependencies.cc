#include "service/dependencies.h"

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
  auto it = dependents_.find(dep.id);
  if (it == dependents_.end()) return;
  std::vector<JobPtr> waiting = std::move(it->second);
  dependents_.erase(it);
  std::vector<JobPtr> to_cancel;
  for (const auto& job : waiting) {
    if (core::IsTerminalJobState(job->rec.status)) continue;
    if (dep.status == JobState::kCompleted) {
      std::erase(job->waiting_on, dep.id);
      if (job->waiting_on.empty()) scheduler_.Enqueue(job);
    } else {
      to_cancel.push_back(job);  // SPEC §2: PENDING -> CANCELED (DEPENDENCY_FAILED)
    }
  }
  if (!to_cancel.empty()) {
    ctx_.tasks.Spawn(
        internal::Discard(job_ops_.CancelCascade(std::move(to_cancel), "DEPENDENCY_FAILED")),
        "cancel dependents");
  }
}

}  // namespace overseer::service
