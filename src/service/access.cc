#include "service/access.h"

namespace overseer::service {
namespace asio = boost::asio;

bool Access::IsJobActive(const std::string& job_id) const {
  auto it = ctx_.jobs.find(job_id);
  return it != ctx_.jobs.end() && !core::IsTerminalJobState(it->second->rec.status);
}

asio::awaitable<bool> Access::CallerReaches(Caller caller, std::string job_id) {
  if (caller.job_id.empty()) co_return true;  // an operator's token: the whole workspace
  co_return co_await WithinSubtree(std::move(caller.workspace_id), std::move(caller.job_id),
                                   std::move(job_id));
}

asio::awaitable<bool> Access::WithinSubtree(std::string workspace_id, std::string ancestor,
                                            std::string id) {
  // Up through the jobs this daemon holds (a parent never changes); the first one it does not
  // hold (ended and dropped, or another daemon's) is answered by the database's closure table
  // in one lookup.
  std::string cur = std::move(id);
  for (int hops = 0; !cur.empty() && hops <= ctx_.options.max_depth + 1; ++hops) {
    if (cur == ancestor) co_return true;
    auto it = ctx_.jobs.find(cur);
    if (it == ctx_.jobs.end()) {
      Result<bool> within = co_await RunBlocking(
          ctx_.pool, [&] { return ctx_.store.JobInSubtree(workspace_id, ancestor, cur); });
      co_return within.ok() && *within;
    }
    if (it->second->rec.workspace_id != workspace_id) co_return false;
    cur = it->second->rec.parent_job_id;
  }
  co_return false;
}

asio::awaitable<Result<core::JobState>> Access::JobStatusOf(std::string ws, std::string id) {
  if (JobPtr live = ctx_.FindJob(ws, id)) co_return live->rec.status;
  Result<core::Job> j =
      co_await RunBlocking(ctx_.pool, [this, &ws, &id] { return ctx_.store.GetJob(ws, id); });
  if (!j) co_return j.error();
  co_return j->status;
}

asio::awaitable<Error> Access::NotLiveError(Caller caller, std::string id,
                                            core::WorkerEvent requested) {
  Result<core::Worker> w = co_await RunBlocking(
      ctx_.pool, [this, &caller, &id] { return ctx_.store.GetWorker(caller.workspace_id, id); });
  if (!w) co_return w.error();
  Result<core::WorkerState> next = core::NextWorkerState(w->status, requested);
  if (next) {
    co_return MakeError(ErrorCode::kUnavailable, "worker is not supervised by this daemon");
  }
  Error e = next.error();
  e.With("worker_id", id);
  co_return e;
}

}  // namespace overseer::service
