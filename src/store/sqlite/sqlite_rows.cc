#include "store/sqlite/sqlite_rows.h"

#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

#include "store/json_list.h"

namespace overseer::store::internal {

using core::Job;
using core::JobState;
using core::Worker;
using core::WorkerState;

std::string ColText(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  if (p == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(s, i)));
}

Error CorruptRow(std::string_view what) {
  spdlog::error("sqlite: unreadable stored row: {}", what);
  return MakeError(ErrorCode::kInternal, "database error");
}

void BindJob(Binder& b, const Job& j) {
  b.Text(j.id)
      .Text(j.workspace_id)
      .Text(j.name)
      .Int(j.depth)
      .TextOrNull(j.parent_job_id)
      .TextCopy(EncodeJsonStringList(j.depends_on))
      .Int(j.worker_count)
      .Int(j.timeout_seconds)
      .Int(j.retry.max_attempts)
      .Int(j.retry.initial_backoff_ms)
      .Int(j.retry.max_backoff_ms)
      .Real(j.retry.multiplier)
      .Real(j.retry.jitter)
      .Text(j.task_json)
      .Text(j.metadata_json)
      .Int(j.created_at)
      .Int(j.stall_seconds);
  BindJobMutable(b, j);
}

void BindJobMutable(Binder& b, const Job& j) {
  b.Text(core::JobStateName(j.status))
      .Text(j.status_reason)
      .IntOrNull(j.started_at)
      .IntOrNull(j.completed_at)
      .TextOrNull(j.result_json)
      .Int(j.updated_at);
}

void BindJobBudget(Binder& b, const std::optional<core::Budget>& budget) {
  if (!budget) {
    b.Null().Null().Null().Null().Text("");
    return;
  }
  b.OptReal(budget->usd)
      .OptInt64(budget->tokens)
      .OptInt64(budget->max_children)
      .OptInt64(budget->max_descendants)
      .Text(core::BudgetExhaustionName(budget->on_exhausted));
}

void BindJobUsage(Binder& b, const core::JobUsage& u) {
  b.Real(u.usd).Int(u.tokens).Int(u.descendants).Int(u.children);
}

void BindWorker(Binder& b, const Worker& w) {
  b.Text(w.id).Text(w.workspace_id).Text(w.job_id).Int(w.created_at);
  BindWorkerMutable(b, w);
}

void BindWorkerMutable(Binder& b, const Worker& w) {
  b.Text(core::WorkerStateName(w.status))
      .Text(w.status_reason)
      .IntOrNull(w.pid)
      .IntOrNull(w.pgid)
      .OptInt(w.exit_code)
      .OptInt(w.exit_signal)
      .Int(w.attempt)
      .Text(w.metadata_json)
      .Text(w.cgroup_path)
      .Text(w.log_path)
      .Int(w.updated_at)
      .IntOrNull(w.started_at)
      .IntOrNull(w.ended_at)
      .Text(w.agent_json);
}

Result<Job> ReadJob(sqlite3_stmt* s) {
  Job j;
  // Status before depends_on: when both are unreadable, the log names the status.
  const std::string status = ColText(s, 17);
  const std::optional<JobState> st = core::ParseJobState(status);
  if (!st) return CorruptRow("job status " + status);
  j.status = *st;
  j.id = ColText(s, 0);
  j.workspace_id = ColText(s, 1);
  j.name = ColText(s, 2);
  j.depth = ColInt32(s, 3);
  j.parent_job_id = ColText(s, 4);
  Result<std::vector<std::string>> deps = DecodeJsonStringList(ColText(s, 5));
  if (!deps) return CorruptRow("job depends_on");
  j.depends_on = std::move(*deps);
  j.worker_count = ColInt32(s, 6);
  j.timeout_seconds = ColInt(s, 7);
  j.retry.max_attempts = ColInt32(s, 8);
  j.retry.initial_backoff_ms = ColInt(s, 9);
  j.retry.max_backoff_ms = ColInt(s, 10);
  j.retry.multiplier = sqlite3_column_double(s, 11);
  j.retry.jitter = sqlite3_column_double(s, 12);
  j.task_json = ColText(s, 13);
  j.metadata_json = ColText(s, 14);
  j.created_at = ColInt(s, 15);
  j.stall_seconds = ColInt(s, 16);
  // OVERSEER_SQLITE_JOB_MUTABLE_COLUMNS (status is parsed above)
  j.status_reason = ColText(s, 18);
  j.started_at = ColInt(s, 19);
  j.completed_at = ColInt(s, 20);
  j.result_json = ColText(s, 21);
  j.updated_at = ColInt(s, 22);
  // OVERSEER_SQLITE_JOB_HALT_COLUMNS
  const std::string halt_mode = ColText(s, 23);
  if (!halt_mode.empty()) {
    const std::optional<core::HaltMode> mode = core::ParseHaltMode(halt_mode);
    if (!mode) return CorruptRow("job halt_mode " + halt_mode);
    j.halted = core::Halt{*mode,         ColText(s, 24),     ColText(s, 25),
                          ColInt(s, 26), ColInt(s, 27) != 0, ColInt(s, 28) != 0};
  }
  // OVERSEER_SQLITE_JOB_BUDGET_COLUMNS: a budget is a row with on_exhausted set.
  const std::string on_exhausted = ColText(s, 33);
  if (!on_exhausted.empty()) {
    const std::optional<core::BudgetExhaustion> mode = core::ParseBudgetExhaustion(on_exhausted);
    if (!mode) return CorruptRow("job budget_on_exhausted " + on_exhausted);
    j.budget = core::Budget{ColOptReal(s, 29), ColOptInt64(s, 30), ColOptInt64(s, 31),
                            ColOptInt64(s, 32), *mode};
  }
  // OVERSEER_SQLITE_JOB_USAGE_COLUMNS
  j.usage =
      core::JobUsage{sqlite3_column_double(s, 34), ColInt(s, 35), ColInt(s, 36), ColInt(s, 37)};
  return j;
}

Result<Worker> ReadWorker(sqlite3_stmt* s) {
  Worker w;
  w.id = ColText(s, 0);
  w.workspace_id = ColText(s, 1);
  w.job_id = ColText(s, 2);
  w.created_at = ColInt(s, 3);
  // OVERSEER_SQLITE_WORKER_MUTABLE_COLUMNS
  const std::string status = ColText(s, 4);
  const std::optional<WorkerState> st = core::ParseWorkerState(status);
  if (!st) return CorruptRow("worker status " + status);
  w.status = *st;
  w.status_reason = ColText(s, 5);
  w.pid = ColInt(s, 6);
  w.pgid = ColInt(s, 7);
  w.exit_code = ColOptInt(s, 8);
  w.exit_signal = ColOptInt(s, 9);
  w.attempt = ColInt32(s, 10);
  w.metadata_json = ColText(s, 11);
  w.cgroup_path = ColText(s, 12);
  w.log_path = ColText(s, 13);
  w.updated_at = ColInt(s, 14);
  w.started_at = ColInt(s, 15);
  w.ended_at = ColInt(s, 16);
  w.agent_json = ColText(s, 17);
  return w;
}

}  // namespace overseer::store::internal
