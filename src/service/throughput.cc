#include "service/throughput.h"

#include <cstddef>

namespace overseer::service {
namespace {

struct Name {
  const char* daemon;
  const char* workspace;
  const char* help;
};
constexpr std::array<Name, 4> kNames{{
    {"overseer_jobs_submitted_total", "overseer_workspace_jobs_submitted_total",
     "Jobs accepted (POST /api/jobs)."},
    {"overseer_workers_spawned_total", "overseer_workspace_workers_spawned_total",
     "Worker processes started (every attempt)."},
    {"overseer_workers_exited_total", "overseer_workspace_workers_exited_total",
     "Worker processes reaped."},
    {"overseer_spawn_failures_total", "overseer_workspace_spawn_failures_total",
     "Worker processes that could not be started."},
}};

Counters Read(const std::array<Counter*, 4>& row) {
  auto v = [&](Tally t) {
    const Counter* c = row[static_cast<size_t>(t)];
    return c == nullptr ? int64_t{0} : c->value();
  };
  return Counters{v(Tally::kJobsSubmitted), v(Tally::kWorkersSpawned), v(Tally::kWorkersExited),
                  v(Tally::kSpawnFailures)};
}

}  // namespace

Throughput::Throughput(MetricsRegistry& metrics) : metrics_(metrics) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    daemon_[i] = &metrics_.GetCounter(kNames[i].daemon, kNames[i].help);
  }
}

const Throughput::Row& Throughput::RowOf(const std::string& workspace_id) {
  auto it = workspaces_.find(workspace_id);
  if (it != workspaces_.end()) return it->second;
  Row row{};
  for (size_t i = 0; i < kNames.size(); ++i) {
    row[i] = &metrics_.GetCounter(kNames[i].workspace, kNames[i].help,
                                  MetricLabels{{"workspace", workspace_id}});
  }
  return workspaces_.emplace(workspace_id, row).first->second;
}

void Throughput::Count(Tally what, const std::string& workspace_id) {
  const auto i = static_cast<size_t>(what);
  daemon_[i]->Add();
  RowOf(workspace_id)[i]->Add();
}

Counters Throughput::Daemon() const { return Read(daemon_); }

Counters Throughput::Workspace(const std::string& workspace_id) const {
  auto it = workspaces_.find(workspace_id);
  return it == workspaces_.end() ? Counters{} : Read(it->second);
}

}  // namespace overseer::service
