// Internal to src/store/sqlite: binding statement parameters, reading result columns, and the
// one mapping between the jobs / workers tables and core::Job / core::Worker. Every statement
// that writes or reads a whole job or worker row goes through BindJob/ReadJob and
// BindWorker/ReadWorker with the column lists below. No state; any thread (per statement).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "core/types.h"
#include "store/store.h"

// Columns of the jobs and workers tables, in the order the Bind and Read functions below use.
// Each list ends with the columns an update may change (..._MUTABLE_COLUMNS), so that an
// UPDATE binds exactly the tail that BindJob / BindWorker bind for an INSERT.
#define OVERSEER_SQLITE_JOB_MUTABLE_COLUMNS \
  "status, status_reason, started_at, completed_at, result_json, updated_at"
#define OVERSEER_SQLITE_JOB_COLUMNS                                                           \
  "id, workspace_id, name, depth, parent_job_id, depends_on, worker_count, timeout_seconds, " \
  "retry_max_attempts, retry_initial_backoff_ms, retry_max_backoff_ms, retry_multiplier, "    \
  "retry_jitter, task_json, metadata_json, created_at, "                                      \
  "stall_seconds, " OVERSEER_SQLITE_JOB_MUTABLE_COLUMNS
// What a read selects of a job: every column above, then its halt (0005), which only
// ChangeSet::job_halts writes (an INSERT leaves the defaults: not halted).
#define OVERSEER_SQLITE_JOB_HALT_COLUMNS \
  "halt_mode, halt_reason, halt_by, halt_at, halt_workspace_wide, halt_budget"
// Its budget (0006), written with the row and by ChangeSet::job_budgets, and its subtree's
// usage, written by ChangeSet::job_usages.
#define OVERSEER_SQLITE_JOB_BUDGET_COLUMNS                                   \
  "budget_usd, budget_tokens, budget_max_children, budget_max_descendants, " \
  "budget_on_exhausted"
#define OVERSEER_SQLITE_JOB_USAGE_COLUMNS \
  "usage_usd, usage_tokens, usage_descendants, usage_children"
#define OVERSEER_SQLITE_JOB_READ_COLUMNS                              \
  OVERSEER_SQLITE_JOB_COLUMNS ", " OVERSEER_SQLITE_JOB_HALT_COLUMNS   \
                              ", " OVERSEER_SQLITE_JOB_BUDGET_COLUMNS \
                              ", " OVERSEER_SQLITE_JOB_USAGE_COLUMNS
#define OVERSEER_SQLITE_WORKER_MUTABLE_COLUMNS                                         \
  "status, status_reason, pid, pgid, exit_code, exit_signal, attempt, metadata_json, " \
  "cgroup_path, log_path, updated_at, started_at, ended_at, agent_json"
#define OVERSEER_SQLITE_WORKER_COLUMNS \
  "id, workspace_id, job_id, created_at, " OVERSEER_SQLITE_WORKER_MUTABLE_COLUMNS

namespace overseer::store::internal {

// Binds parameters left to right; the first failing bind's code is kept in rc(). Text bound
// with Text() must outlive the statement's execution; TextCopy() lets SQLite keep a copy.
class Binder {
 public:
  explicit Binder(sqlite3_stmt* stmt) : stmt_(stmt) {}

  Binder& Text(std::string_view v) {
    return Check(
        sqlite3_bind_text64(stmt_, idx_++, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  Binder& TextCopy(std::string_view v) {
    return Check(
        sqlite3_bind_text64(stmt_, idx_++, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  Binder& TextOrNull(std::string_view v) { return v.empty() ? Null() : Text(v); }
  Binder& Int(int64_t v) { return Check(sqlite3_bind_int64(stmt_, idx_++, v)); }
  Binder& IntOrNull(int64_t v) { return v == 0 ? Null() : Int(v); }
  Binder& OptInt(std::optional<int> v) { return v ? Int(*v) : Null(); }
  Binder& Real(double v) { return Check(sqlite3_bind_double(stmt_, idx_++, v)); }
  Binder& OptReal(std::optional<double> v) { return v ? Real(*v) : Null(); }
  Binder& OptInt64(std::optional<int64_t> v) { return v ? Int(*v) : Null(); }
  Binder& Null() { return Check(sqlite3_bind_null(stmt_, idx_++)); }

  int rc() const { return rc_; }

 private:
  Binder& Check(int rc) {
    if (rc_ == SQLITE_OK) rc_ = rc;
    return *this;
  }

  sqlite3_stmt* stmt_;
  int idx_ = 1;
  int rc_ = SQLITE_OK;
};

// Column `i` of the current row; NULL reads as "" / 0 / nullopt.
std::string ColText(sqlite3_stmt* s, int i);
inline int64_t ColInt(sqlite3_stmt* s, int i) { return sqlite3_column_int64(s, i); }
inline int ColInt32(sqlite3_stmt* s, int i) { return sqlite3_column_int(s, i); }
inline std::optional<int> ColOptInt(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int(s, i);
}
inline std::optional<int64_t> ColOptInt64(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, i);
}
inline std::optional<double> ColOptReal(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_double(s, i);
}

// Logs `what`; the returned kInternal carries no stored text.
Error CorruptRow(std::string_view what);

// Bind every column of OVERSEER_SQLITE_JOB_COLUMNS / _WORKER_COLUMNS, in order. Empty text
// and zero times that mean "not set" are bound as NULL.
void BindJob(Binder& b, const core::Job& j);
void BindWorker(Binder& b, const core::Worker& w);

// Bind OVERSEER_SQLITE_JOB_BUDGET_COLUMNS / _USAGE_COLUMNS, in order (no budget: NULL
// limits and on_exhausted '').
void BindJobBudget(Binder& b, const std::optional<core::Budget>& budget);
void BindJobUsage(Binder& b, const core::JobUsage& usage);

// Bind only the ..._MUTABLE_COLUMNS, in order: the tail of BindJob / BindWorker.
void BindJobMutable(Binder& b, const core::Job& j);
void BindWorkerMutable(Binder& b, const core::Worker& w);

// Read a row selected with OVERSEER_SQLITE_JOB_READ_COLUMNS / _WORKER_COLUMNS. CorruptRow if the
// status or depends_on cannot be parsed.
Result<core::Job> ReadJob(sqlite3_stmt* s);
Result<core::Worker> ReadWorker(sqlite3_stmt* s);

}  // namespace overseer::store::internal
