// Internal to src/store/postgres: the one mapping between the jobs / workers tables and
// core::Job / core::Worker. Times travel as integer milliseconds and are converted in SQL
// (OVERSEER_PG_TS / OVERSEER_PG_MS): timestamptz in the table, TimeMs in the core, 0 = NULL.
// JSON columns are written as text cast to jsonb and read back with ::text. No state; any
// thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "core/types.h"
#include "store/postgres/pg_connection.h"
#include "store/store.h"

// A timestamptz from the bigint milliseconds parameter `$n` (NULL stays NULL); exact.
#define OVERSEER_PG_TS(n) "(timestamptz 'epoch' + $" #n "::bigint * interval '1 millisecond')"
// The bigint milliseconds of a timestamptz column (NULL stays NULL); exact to the millisecond.
#define OVERSEER_PG_MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

// What a read selects of a job, in the order ReadJob reads (the SQLite backend's order).
#define OVERSEER_PG_JOB_READ_COLUMNS \
  "id, workspace_id, name, depth, parent_job_id, depends_on::text, worker_count, "            \
  "timeout_seconds, retry_max_attempts, retry_initial_backoff_ms, retry_max_backoff_ms, "     \
  "retry_multiplier, retry_jitter, task_json::text, metadata_json::text, " OVERSEER_PG_MS(    \
      "created_at") ", stall_seconds, status, status_reason, " OVERSEER_PG_MS("started_at")   \
      ", " OVERSEER_PG_MS("completed_at") ", result_json::text, " OVERSEER_PG_MS(             \
          "updated_at") ", halt_mode, halt_reason, halt_by, " OVERSEER_PG_MS(                 \
          "halt_at") ", halt_workspace_wide, halt_budget, budget_usd, budget_tokens, "        \
                     "budget_max_children, budget_max_descendants, budget_on_exhausted, "     \
                     "usage_usd, usage_tokens, usage_descendants, usage_children"
#define OVERSEER_PG_WORKER_READ_COLUMNS \
  "id, workspace_id, job_id, " OVERSEER_PG_MS("created_at") ", status, status_reason, pid, " \
                                                            "pgid, exit_code, exit_signal, "  \
                                                            "attempt, metadata_json::text, "  \
                                                            "cgroup_path, log_path, "         \
      OVERSEER_PG_MS("updated_at") ", " OVERSEER_PG_MS("started_at") ", " OVERSEER_PG_MS(     \
          "ended_at") ", agent_json::text"

namespace overseer::store::pg {

// 0 as NULL (times and ids that mean "not set").
inline PgParam IntOrNull(int64_t v) { return v == 0 ? PgParam() : ToPgParam(v); }
// "" as NULL.
inline PgParam TextOrNull(std::string_view v) { return v.empty() ? PgParam() : ToPgParam(v); }
// A JSON text for a NOT NULL jsonb column ("" as `empty`).
inline PgParam Json(std::string_view v, std::string_view empty = "{}") {
  return ToPgParam(v.empty() ? empty : v);
}

// The parameters of kInsertJob (pg_jobs.cc): every column of a new job row, its budget and
// usage included.
std::vector<PgParam> JobInsertParams(const core::Job& j);
// The mutable columns of a job (status, status_reason, started_at, completed_at, result_json,
// updated_at), in that order.
std::vector<PgParam> JobMutableParams(const core::Job& j);
// budget_usd, budget_tokens, budget_max_children, budget_max_descendants, budget_on_exhausted.
std::vector<PgParam> JobBudgetParams(const std::optional<core::Budget>& budget);
// usage_usd, usage_tokens, usage_descendants, usage_children.
std::vector<PgParam> JobUsageParams(const core::JobUsage& usage);
// id, workspace_id, job_id, created_at, then WorkerMutableParams.
std::vector<PgParam> WorkerInsertParams(const core::Worker& w);
// status, status_reason, pid, pgid, exit_code, exit_signal, attempt, metadata_json,
// cgroup_path, log_path, updated_at, started_at, ended_at, agent_json.
std::vector<PgParam> WorkerMutableParams(const core::Worker& w);

// Column readers: NULL reads as "" / 0 / nullopt / false.
int64_t ColInt(const PgResult& r, int row, int col);
std::optional<int64_t> ColOptInt(const PgResult& r, int row, int col);
double ColReal(const PgResult& r, int row, int col);
std::optional<double> ColOptReal(const PgResult& r, int row, int col);
std::string ColText(const PgResult& r, int row, int col);
bool ColBool(const PgResult& r, int row, int col);

// Row `row` of a result selected with OVERSEER_PG_JOB_READ_COLUMNS / _WORKER_READ_COLUMNS.
Result<core::Job> ReadJob(const PgResult& r, int row);
Result<core::Worker> ReadWorker(const PgResult& r, int row);

// Every row of `r` read by `read`.
template <typename T>
Result<std::vector<T>> ReadAll(const PgResult& r, Result<T> (*read)(const PgResult&, int)) {
  std::vector<T> out;
  out.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    Result<T> row = read(r, i);
    if (!row) return std::move(row).error();
    out.push_back(std::move(*row));
  }
  return out;
}

// ReadAll of a query's answer, or its error.
template <typename T>
Result<std::vector<T>> ReadAll(Result<PgResult> r, Result<T> (*read)(const PgResult&, int)) {
  if (!r) return std::move(r).error();
  return ReadAll<T>(*r, read);
}

// The parameters of SQL built at run time (list filters): Add returns the placeholder ("$3").
struct SqlParams {
  std::vector<PgParam> values;
  std::string Add(PgParam v) {
    values.push_back(std::move(v));
    return "$" + std::to_string(values.size());
  }
};
// "status IN ($i, ...)" for `names` (at least one).
std::string StatusIn(SqlParams& p, const std::vector<std::string_view>& names);
// " AND id > $i ORDER BY id LIMIT $j": a keyset page after `after_id`, one row more than
// `limit` (ToPage tells from it whether there is a next page).
std::string KeysetPage(SqlParams& p, const std::string& after_id, int limit);

// A keyset page of `rows`, read with limit + 1: the extra row, if any, only says that there is
// a next page (after the last row kept).
template <typename T>
Page<T> ToPage(std::vector<T> rows, int limit) {
  Page<T> page;
  if (std::ssize(rows) > limit) {
    rows.resize(static_cast<size_t>(limit));
    page.next_after_id = rows.back().id;
  }
  page.items = std::move(rows);
  return page;
}

}  // namespace overseer::store::pg
