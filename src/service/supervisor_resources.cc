// Supervisor: worker slots — quotas per workspace and depth, the allocation each running
// worker holds, and the FIFO queue of jobs waiting for slots.
#include <boost/asio/co_spawn.hpp>

#include "common/ids.h"
#include "service/supervisor.h"
#include "service/supervisor_internal.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::JobState;
using core::WorkerState;
using internal::LogFailure;

core::Allocation Supervisor::NewAllocation(const LiveJob& job, const std::string& worker_id,
                                           TimeMs now) const {
  core::Allocation a;
  a.id = NewId("a_");
  a.workspace_id = job.rec.workspace_id;
  a.job_id = job.rec.id;
  a.worker_id = worker_id;
  a.depth = job.rec.depth;
  a.worker_count = 1;
  a.allocated_at = now;
  return a;
}

int Supervisor::SlotsNeeded(const LiveJob& job) {
  int n = 0;
  for (const WorkerPtr& w : job.workers) {
    if (w->rec.status == WorkerState::kIdle && w->allocation_id.empty()) ++n;
  }
  return n;
}

void Supervisor::ReleaseSlots(const std::string& ws, int depth, int n) {
  quotas_.Give(ws, depth, n);
  ScheduleQueued(ws, depth);
}

void Supervisor::ScheduleQueued(const std::string& ws, int depth) {
  auto it = queued_.find({ws, depth});
  if (it == queued_.end() || shutting_down_) return;
  std::deque<std::shared_ptr<LiveJob>>& q = it->second;
  // Strict FIFO: a big job at the head is not overtaken by smaller ones behind it.
  while (!q.empty()) {
    std::shared_ptr<LiveJob> job = q.front();
    if (core::IsTerminalJobState(job->rec.status)) {
      q.pop_front();
      continue;
    }
    const int slots = SlotsNeeded(*job);
    if (!quotas_.Fits(ws, depth, slots)) break;
    q.pop_front();
    quotas_.Take(ws, depth, slots);
    asio::co_spawn(io_, StartQueued(job, slots),
                   [](std::exception_ptr e) { LogFailure(e, "start queued job"); });
  }
  if (q.empty()) queued_.erase(it);
}

asio::awaitable<void> Supervisor::StartQueued(std::shared_ptr<LiveJob> job, int slots) {
  const std::string ws = job->rec.workspace_id;
  const int depth = job->rec.depth;
  std::vector<ScopedLock> locks;
  locks.reserve(job->workers.size());
  for (const WorkerPtr& w : job->workers) locks.push_back(co_await ScopedLock::Acquire(w->mu));
  std::vector<WorkerPtr> to_start;
  for (const WorkerPtr& w : job->workers) {
    if (w->rec.status == WorkerState::kIdle && w->allocation_id.empty()) to_start.push_back(w);
  }
  if (core::IsTerminalJobState(job->rec.status) || static_cast<int>(to_start.size()) != slots) {
    locks.clear();
    ReleaseSlots(ws, depth, slots);  // canceled (or changed) while it waited
    co_return;
  }
  const TimeMs now = clock_.NowMs();
  store::ChangeSet cs;
  for (const WorkerPtr& w : to_start)
    cs.new_allocations.push_back(NewAllocation(*job, w->rec.id, now));
  Status st = co_await commits_.Commit(cs);
  if (!st) {
    spdlog::error("job {}: could not record its allocations: {}", job->rec.id, st.error().message);
    locks.clear();
    ReleaseSlots(ws, depth, slots);
    co_return;
  }
  for (size_t i = 0; i < to_start.size(); ++i)
    to_start[i]->allocation_id = cs.new_allocations[i].id;
  for (const WorkerPtr& w : to_start) {
    Status s = co_await Spawn(w);
    if (!s) spdlog::error("worker {}: {}", w->rec.id, s.error().message);
  }
}

QuotasView Supervisor::GetQuotas(const Caller& caller) const {
  QuotasView v;
  v.max_depth = quotas_.max_depth();
  for (int d = 0; d <= v.max_depth; ++d) {
    v.quotas.push_back(
        QuotaView{d, quotas_.Limit(caller.workspace_id, d), quotas_.Used(caller.workspace_id, d)});
  }
  return v;
}

asio::awaitable<Result<QuotasView>> Supervisor::SetQuotas(Caller caller,
                                                          std::vector<std::pair<int, int>> limits) {
  std::vector<core::Quota> rows;
  const TimeMs now = clock_.NowMs();
  for (const auto& [depth, max_workers] : limits) {
    if (depth < 0 || depth > quotas_.max_depth()) {
      Error e = MakeError(ErrorCode::kInvalidRequest,
                          "quotas: depth must be 0.." + std::to_string(quotas_.max_depth()));
      e.With("field", "quotas").With("depth", depth).With("max_depth", quotas_.max_depth());
      co_return e;
    }
    rows.push_back(core::Quota{caller.workspace_id, depth, max_workers, now});
  }
  Status st = co_await RunBlocking(pool_, [&] { return store_.SetQuotas(rows); });
  if (!st) co_return st.error();
  for (const core::Quota& q : rows) quotas_.SetLimit(q.workspace_id, q.depth, q.max_workers);
  for (const core::Quota& q : rows) ScheduleQueued(q.workspace_id, q.depth);
  co_return GetQuotas(caller);
}

}  // namespace overseer::service
