// Throughput: the daemon's throughput counters (SPEC §3 metrics: jobs submitted, workers
// spawned and exited, spawn failures), kept in the app's MetricsRegistry — daemon-wide as
// overseer_<name>_total and per workspace as overseer_workspace_<name>_total{workspace=...} —
// and read back from it for GET /api/supervisor/metrics. Loop thread only (the registry's
// counters themselves may be read from any thread).
#pragma once

#include <array>
#include <string>
#include <unordered_map>

#include "common/metrics.h"
#include "service/types.h"

namespace overseer::service {

enum class Tally { kJobsSubmitted, kWorkersSpawned, kWorkersExited, kSpawnFailures };

class Throughput {
 public:
  explicit Throughput(MetricsRegistry& metrics);

  void Count(Tally what, const std::string& workspace_id);
  Counters Daemon() const;
  Counters Workspace(const std::string& workspace_id) const;

 private:
  using Row = std::array<Counter*, 4>;
  const Row& RowOf(const std::string& workspace_id);

  MetricsRegistry& metrics_;
  Row daemon_{};
  std::unordered_map<std::string, Row> workspaces_;
};

}  // namespace overseer::service
