// The values the service layer's front doors take and answer: a job submission, the caller,
// the daemon's options, and the views of jobs, quotas and metrics. Plain values; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/budget.h"
#include "core/types.h"
#include "service/runtime.h"

namespace overseer::service {

// A validated job submission (the api layer parses and checks the JSON).
struct JobSpec {
  std::string name;
  std::string parent_job_id;            // "" = root (or the caller's own job for a worker token)
  std::optional<int> depth;             // if given, must equal parent depth + 1
  std::vector<std::string> depends_on;  // jobs of the workspace that must COMPLETE first
  int worker_count = 1;
  int64_t timeout_seconds = 0;           // 0 = none
  std::optional<int64_t> stall_seconds;  // nullopt = the runtime's default; 0 = none
  core::RetryPolicy retry;
  std::optional<core::Budget> budget;  // SPEC §11; nullopt: shares the budget above it
  Task task;                           // parsed once, by its runtime
  std::string metadata_json;           // "{}" if none
};

// Who asks: the workspace, and the job a worker token is bound to ("" for operators).
struct Caller {
  std::string workspace_id;
  std::string job_id;
};

struct SupervisorOptions {
  std::string state_dir;   // logs go to <state_dir>/logs
  std::string daemon_url;  // OVERSEER_URL given to workers
  int max_depth = 5;
  int64_t log_max_bytes = 10 << 20;   // per worker log file (one rotated backup)
  std::vector<std::string> base_env;  // inherited by every worker ("K=V"), already filtered
  AgentOptions agents;                // the claude and codex runtimes
  std::chrono::milliseconds timeout_grace{5000};  // SIGTERM -> SIGKILL on timeout
  // Worker slots per depth for a workspace without its own quotas (SPEC §3); depths past
  // the list repeat its last value.
  std::vector<int> default_quotas{10, 8, 5, 3, 2, 1};
};

// Mints the OVERSEER_TOKEN a worker gets, bound to its job; "" when the daemon cannot mint.
using TokenMinter = std::function<std::string(const std::string& workspace_id,
                                              const std::string& job_id, int depth)>;

struct JobView {
  core::Job job;
  std::vector<core::Worker> workers;
  std::vector<std::string> children;          // ids of direct child jobs (first 1000)
  std::vector<core::Allocation> allocations;  // held and released, oldest first (first 1000)
  // What is left to it of the budget it has or shares (nullopt: none applies).
  std::optional<core::BudgetLeft> budget_left;
};

// A job and its descendants: the root first, then by depth and id.
struct JobTreeView {
  std::vector<core::Job> jobs;
  bool truncated = false;  // more than kMaxTreeJobs: the deepest were left out
};
inline constexpr int kMaxTreeJobs = 10000;

// Quotas of one workspace: depths 0..max_depth, each with its limit and the slots in use.
struct QuotaView {
  int depth = 0;
  int max_workers = 0;
  int used = 0;
};
struct QuotasView {
  int max_depth = 0;
  std::vector<QuotaView> quotas;
};

// Throughput since the daemon started, of one workspace or of them all.
struct Counters {
  int64_t jobs_submitted = 0;
  int64_t workers_spawned = 0;
  int64_t workers_exited = 0;
  int64_t spawn_failures = 0;
};

struct Metrics {
  std::vector<std::pair<core::WorkerState, int64_t>> workers_by_status;
  std::vector<std::pair<int, int64_t>> live_workers_by_depth;  // RUNNING or PAUSED
  int64_t uptime_seconds = 0;
  Counters counters;  // the caller's workspace
  // Daemon-wide figures, filled only when asked for (an operator's token): every workspace's
  // counters, and the commits (not kept per workspace: a group commit spans several).
  bool daemon_wide = false;
  Counters daemon_counters;
  int64_t commits = 0;              // status changes written (ChangeSets)
  int64_t commit_transactions = 0;  // database transactions that wrote them (group commit)
};

}  // namespace overseer::service
