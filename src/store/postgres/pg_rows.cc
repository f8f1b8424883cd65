// Job and worker rows of the PostgreSQL store: parameters out, rows in.
#include "store/postgres/pg_rows.h"

#include <charconv>
#include <utility>

#include "store/json_list.h"
#include "store/postgres/pg_store_internal.h"

namespace overseer::store::pg {

using core::Job;
using core::JobState;
using core::Worker;
using core::WorkerState;

namespace {

void Append(std::vector<PgParam>& out, std::vector<PgParam> more) {
  for (PgParam& p : more) out.push_back(std::move(p));
}

PgParam OptInt(const std::optional<int>& v) { return v ? ToPgParam(*v) : PgParam(); }

}  // namespace

std::vector<PgParam> JobMutableParams(const Job& j) {
  return {ToPgParam(core::JobStateName(j.status)),
          ToPgParam(j.status_reason),
          IntOrNull(j.started_at),
          IntOrNull(j.completed_at),
          TextOrNull(j.result_json),
          ToPgParam(j.updated_at)};
}

std::vector<PgParam> JobBudgetParams(const std::optional<core::Budget>& budget) {
  if (!budget) return {PgParam(), PgParam(), PgParam(), PgParam(), ToPgParam("")};
  return {ToPgParam(budget->usd), ToPgParam(budget->tokens), ToPgParam(budget->max_children),
          ToPgParam(budget->max_descendants),
          ToPgParam(core::BudgetExhaustionName(budget->on_exhausted))};
}

std::vector<PgParam> JobUsageParams(const core::JobUsage& u) {
  return {ToPgParam(u.usd), ToPgParam(u.tokens), ToPgParam(u.descendants), ToPgParam(u.children)};
}

std::vector<PgParam> JobInsertParams(const Job& j) {
  std::vector<PgParam> p = {ToPgParam(j.id),
                            ToPgParam(j.workspace_id),
                            ToPgParam(j.name),
                            ToPgParam(j.depth),
                            TextOrNull(j.parent_job_id),
                            ToPgParam(EncodeJsonStringList(j.depends_on)),
                            ToPgParam(j.worker_count),
                            ToPgParam(j.timeout_seconds),
                            ToPgParam(j.retry.max_attempts),
                            ToPgParam(j.retry.initial_backoff_ms),
                            ToPgParam(j.retry.max_backoff_ms),
                            ToPgParam(j.retry.multiplier),
                            ToPgParam(j.retry.jitter),
                            Json(j.task_json),
                            Json(j.metadata_json),
                            ToPgParam(j.created_at),
                            ToPgParam(j.stall_seconds)};
  Append(p, JobMutableParams(j));
  Append(p, JobBudgetParams(j.budget));
  Append(p, JobUsageParams(j.usage));
  return p;
}

std::vector<PgParam> WorkerMutableParams(const Worker& w) {
  return {ToPgParam(core::WorkerStateName(w.status)),
          ToPgParam(w.status_reason),
          IntOrNull(w.pid),
          IntOrNull(w.pgid),
          OptInt(w.exit_code),
          OptInt(w.exit_signal),
          ToPgParam(w.attempt),
          Json(w.metadata_json),
          ToPgParam(w.cgroup_path),
          ToPgParam(w.log_path),
          ToPgParam(w.updated_at),
          IntOrNull(w.started_at),
          IntOrNull(w.ended_at),
          TextOrNull(w.agent_json)};
}

std::vector<PgParam> WorkerInsertParams(const Worker& w) {
  std::vector<PgParam> p = {ToPgParam(w.id), ToPgParam(w.workspace_id), ToPgParam(w.job_id),
                            ToPgParam(w.created_at)};
  Append(p, WorkerMutableParams(w));
  return p;
}

std::string StatusIn(SqlParams& p, const std::vector<std::string_view>& names) {
  std::string sql = "status IN (";
  for (size_t i = 0; i < names.size(); ++i)
    sql += (i == 0 ? "" : ", ") + p.Add(ToPgParam(names[i]));
  return sql + ")";
}

std::string KeysetPage(SqlParams& p, const std::string& after_id, int limit) {
  std::string sql = " AND id > " + p.Add(ToPgParam(after_id));
  return sql + " ORDER BY id LIMIT " + p.Add(ToPgParam(static_cast<int64_t>(limit) + 1));
}

int64_t ColInt(const PgResult& r, int row, int col) { return r.Int64(row, col).value_or(0); }

std::optional<int64_t> ColOptInt(const PgResult& r, int row, int col) {
  if (r.IsNull(row, col)) return std::nullopt;
  return r.Int64(row, col);
}

std::optional<double> ColOptReal(const PgResult& r, int row, int col) {
  if (r.IsNull(row, col)) return std::nullopt;
  const std::string_view t = r.Text(row, col);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || ptr != t.data() + t.size()) return std::nullopt;
  return v;
}

double ColReal(const PgResult& r, int row, int col) {
  return ColOptReal(r, row, col).value_or(0.0);
}

std::string ColText(const PgResult& r, int row, int col) { return std::string(r.Text(row, col)); }

bool ColBool(const PgResult& r, int row, int col) { return r.Text(row, col) == "t"; }

Result<Job> ReadJob(const PgResult& r, int i) {
  Job j;
  const std::string status = ColText(r, i, 17);
  const std::optional<JobState> st = core::ParseJobState(status);
  if (!st) return CorruptRow("job status " + status);
  j.status = *st;
  j.id = ColText(r, i, 0);
  j.workspace_id = ColText(r, i, 1);
  j.name = ColText(r, i, 2);
  j.depth = static_cast<int>(ColInt(r, i, 3));
  j.parent_job_id = ColText(r, i, 4);
  Result<std::vector<std::string>> deps = DecodeJsonStringList(r.Text(i, 5));
  if (!deps) return CorruptRow("job depends_on");
  j.depends_on = std::move(*deps);
  j.worker_count = static_cast<int>(ColInt(r, i, 6));
  j.timeout_seconds = ColInt(r, i, 7);
  j.retry.max_attempts = static_cast<int>(ColInt(r, i, 8));
  j.retry.initial_backoff_ms = ColInt(r, i, 9);
  j.retry.max_backoff_ms = ColInt(r, i, 10);
  j.retry.multiplier = ColReal(r, i, 11);
  j.retry.jitter = ColReal(r, i, 12);
  j.task_json = ColText(r, i, 13);
  j.metadata_json = ColText(r, i, 14);
  j.created_at = ColInt(r, i, 15);
  j.stall_seconds = ColInt(r, i, 16);
  j.status_reason = ColText(r, i, 18);
  j.started_at = ColInt(r, i, 19);
  j.completed_at = ColInt(r, i, 20);
  j.result_json = ColText(r, i, 21);
  j.updated_at = ColInt(r, i, 22);
  const std::string halt_mode = ColText(r, i, 23);
  if (!halt_mode.empty()) {
    const std::optional<core::HaltMode> mode = core::ParseHaltMode(halt_mode);
    if (!mode) return CorruptRow("job halt_mode " + halt_mode);
    j.halted = core::Halt{*mode,
                          ColText(r, i, 24),
                          ColText(r, i, 25),
                          ColInt(r, i, 26),
                          ColBool(r, i, 27),
                          ColBool(r, i, 28)};
  }
  const std::string on_exhausted = ColText(r, i, 33);
  if (!on_exhausted.empty()) {
    const std::optional<core::BudgetExhaustion> mode = core::ParseBudgetExhaustion(on_exhausted);
    if (!mode) return CorruptRow("job budget_on_exhausted " + on_exhausted);
    j.budget = core::Budget{ColOptReal(r, i, 29), ColOptInt(r, i, 30), ColOptInt(r, i, 31),
                            ColOptInt(r, i, 32), *mode};
  }
  j.usage = core::JobUsage{ColReal(r, i, 34), ColInt(r, i, 35), ColInt(r, i, 36), ColInt(r, i, 37)};
  return j;
}

Result<Worker> ReadWorker(const PgResult& r, int i) {
  Worker w;
  w.id = ColText(r, i, 0);
  w.workspace_id = ColText(r, i, 1);
  w.job_id = ColText(r, i, 2);
  w.created_at = ColInt(r, i, 3);
  const std::string status = ColText(r, i, 4);
  const std::optional<WorkerState> st = core::ParseWorkerState(status);
  if (!st) return CorruptRow("worker status " + status);
  w.status = *st;
  w.status_reason = ColText(r, i, 5);
  w.pid = ColInt(r, i, 6);
  w.pgid = ColInt(r, i, 7);
  const std::optional<int64_t> code = ColOptInt(r, i, 8);
  if (code) w.exit_code = static_cast<int>(*code);
  const std::optional<int64_t> sig = ColOptInt(r, i, 9);
  if (sig) w.exit_signal = static_cast<int>(*sig);
  w.attempt = static_cast<int>(ColInt(r, i, 10));
  w.metadata_json = ColText(r, i, 11);
  w.cgroup_path = ColText(r, i, 12);
  w.log_path = ColText(r, i, 13);
  w.updated_at = ColInt(r, i, 14);
  w.started_at = ColInt(r, i, 15);
  w.ended_at = ColInt(r, i, 16);
  w.agent_json = ColText(r, i, 17);
  return w;
}

}  // namespace overseer::store::pg
