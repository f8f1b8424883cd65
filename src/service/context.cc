#include "service/context.h"

#include "common/ids.h"
#include "core/state_machine.h"

namespace overseer::service {

std::vector<const core::Worker*> JobRows(const LiveJob& job) {
  std::vector<const core::Worker*> rows;
  rows.reserve(job.workers.size());
  for (const WorkerPtr& s : job.workers) rows.push_back(&s->rec);
  return rows;
}

core::WorkerSubject Subject(const LiveWorker& w, const std::vector<const core::Worker*>& siblings) {
  return core::WorkerSubject{w.rec, w.job ? &w.job->rec : nullptr, siblings,
                             w.job && !w.job->children.empty(), !w.allocation_id.empty()};
}

core::Allocation NewAllocation(const LiveJob& job, const std::string& worker_id, TimeMs now) {
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

bool NeedsSlot(const LiveWorker& w) { return w.allocation_id.empty() && w.job != nullptr; }

Context::Context(boost::asio::io_context& io_in, BlockingPool& pool_in, store::Store& store_in,
                 proc::Launcher& procs_in, SupervisorOptions options_in, TokenMinter minter_in,
                 const Clock& clock_in, MetricsRegistry& metrics_in)
    : io(io_in),
      pool(pool_in),
      store(store_in),
      procs(procs_in),
      options(std::move(options_in)),
      minter(std::move(minter_in)),
      clock(clock_in),
      metrics(metrics_in),
      started_at(clock_in.NowMs()),
      runtimes(options.agents),
      commits(io_in, pool_in, store_in, &metrics_in),
      tasks(io_in),
      throughput(metrics_in) {}

Context::~Context() {
  for (auto& [id, job] : jobs) {
    job->workers.clear();  // break reference cycles
    job->children.clear();
  }
  for (auto& [id, w] : workers) w->job.reset();
}

WorkerPtr Context::FindWorker(const std::string& workspace_id, const std::string& id) const {
  auto it = workers.find(id);
  if (it == workers.end() || it->second->rec.workspace_id != workspace_id) return nullptr;
  return it->second;
}

JobPtr Context::FindJob(const std::string& workspace_id, const std::string& id) const {
  auto it = jobs.find(id);
  if (it == jobs.end() || it->second->rec.workspace_id != workspace_id) return nullptr;
  return it->second;
}

void Context::Forget(const JobPtr& job) {
  for (const WorkerPtr& w : job->workers) {
    if (core::IsActiveWorkerState(w->rec.status) || w->process) return;
  }
  if (!core::IsTerminalJobState(job->rec.status)) return;
  for (const WorkerPtr& w : job->workers) workers.erase(w->rec.id);
  jobs.erase(job->rec.id);
  job->workers.clear();  // break the job <-> worker reference cycle
}

std::string Context::LogPath(const std::string& worker_id) const {
  return options.state_dir + "/logs/" + worker_id + ".log";
}

}  // namespace overseer::service
