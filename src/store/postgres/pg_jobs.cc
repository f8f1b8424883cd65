// PgStore: job rows (insert with their closure and dependency rows, compare-and-set update,
// get, list, subtree) and a ChangeSet's preconditions.
#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store_internal.h"

namespace overseer::store::pg {
namespace {

using core::Job;
using core::JobState;

constexpr std::string_view kSelectJobs = "SELECT " OVERSEER_PG_JOB_READ_COLUMNS " FROM jobs";

constexpr Stmt kInsertJob{
    "insert_job",
    "INSERT INTO jobs (id, workspace_id, name, depth, parent_job_id, depends_on, worker_count, "
    "timeout_seconds, retry_max_attempts, retry_initial_backoff_ms, retry_max_backoff_ms, "
    "retry_multiplier, retry_jitter, task_json, metadata_json, created_at, stall_seconds, "
    "status, status_reason, started_at, completed_at, result_json, updated_at, budget_usd, "
    "budget_tokens, budget_max_children, budget_max_descendants, budget_on_exhausted, "
    "usage_usd, usage_tokens, usage_descendants, usage_children) VALUES ($1, $2, $3, $4, $5, "
    "$6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb, " OVERSEER_PG_TS(
        16) ", $17, $18, $19, " OVERSEER_PG_TS(20) ", " OVERSEER_PG_TS(21) ", $22::jsonb, "
        OVERSEER_PG_TS(23) ", $24, $25, $26, $27, $28, $29, $30, $31, $32)"};
constexpr Stmt kUpdateJob{
    "update_job",
    "UPDATE jobs SET (status, status_reason, started_at, completed_at, result_json, "
    "updated_at) = ($1, $2, " OVERSEER_PG_TS(3) ", " OVERSEER_PG_TS(
        4) ", $5::jsonb, " OVERSEER_PG_TS(6) ") WHERE id = $7 AND workspace_id = $8 AND "
                                             "status = $9"};
constexpr Stmt kJobStatus{"job_status",
                          "SELECT status FROM jobs WHERE id = $1 AND workspace_id = $2"};
// A precondition holds the row until the transaction ends: a concurrent writer that would
// change the job's status waits for it (and then sees the children inserted under it).
constexpr Stmt kJobStatusForShare{
    "job_status_for_share",
    "SELECT status FROM jobs WHERE id = $1 AND workspace_id = $2 FOR SHARE"};
constexpr Stmt kGetJob{"get_job", "SELECT " OVERSEER_PG_JOB_READ_COLUMNS
                                  " FROM jobs WHERE id = $1 AND workspace_id = $2"};
// The closure table: the root's descendants in one indexed lookup, then their rows.
constexpr Stmt kJobSubtree{
    "job_subtree",
    "SELECT " OVERSEER_PG_JOB_READ_COLUMNS
    " FROM jobs WHERE workspace_id = $2 AND id IN (SELECT descendant_id FROM job_hierarchy "
    "WHERE ancestor_id = $1 AND workspace_id = $2) ORDER BY depth, id LIMIT $3"};
// A new job's closure rows: itself at distance 0, and every ancestor of its parent one further.
constexpr Stmt kInsertHierarchy{
    "insert_job_hierarchy",
    "INSERT INTO job_hierarchy (workspace_id, ancestor_id, descendant_id, distance) "
    "SELECT $1::text, $2::text, $2::text, 0::bigint UNION ALL "
    "SELECT workspace_id, ancestor_id, $2::text, distance + 1 FROM job_hierarchy "
    "WHERE descendant_id = $3::text AND workspace_id = $1::text"};
constexpr Stmt kJobInSubtree{
    "job_in_subtree",
    "SELECT 1 FROM job_hierarchy WHERE ancestor_id = $1 AND descendant_id = $2 AND "
    "workspace_id = $3"};
// The same lookups for what a cancel or a dependency's end must reach: rows not ended only.
constexpr Stmt kActiveDescendants{
    "active_descendants",
    "SELECT " OVERSEER_PG_JOB_READ_COLUMNS
    " FROM jobs WHERE workspace_id = $2 AND status NOT IN ('COMPLETED','FAILED','CANCELED') "
    "AND id IN (SELECT descendant_id FROM job_hierarchy WHERE ancestor_id = $1 AND "
    "workspace_id = $2 AND distance > 0) ORDER BY depth, id LIMIT $3"};
constexpr Stmt kActiveDependents{
    "active_dependents",
    "SELECT " OVERSEER_PG_JOB_READ_COLUMNS
    " FROM jobs WHERE workspace_id = $2 AND status NOT IN ('COMPLETED','FAILED','CANCELED') "
    "AND id IN (SELECT job_id FROM job_dependencies WHERE depends_on_id = $1 AND "
    "workspace_id = $2) ORDER BY id LIMIT $3"};
constexpr Stmt kInsertDependency{
    "insert_job_dependency",
    "INSERT INTO job_dependencies (workspace_id, job_id, depends_on_id) VALUES ($1, $2, $3) "
    "ON CONFLICT DO NOTHING"};

}  // namespace

Status PgRowWriter::InsertJob(const Job& j) {
  if (Status st = Send(conn_, kInsertJob, JobInsertParams(j)); !st) return st;
  if (Status st = Send(conn_, kInsertHierarchy,
                       {ToPgParam(j.workspace_id), ToPgParam(j.id), TextOrNull(j.parent_job_id)});
      !st) {
    return st;
  }
  for (const std::string& dep : j.depends_on) {
    if (Status st = Send(conn_, kInsertDependency,
                         {ToPgParam(j.workspace_id), ToPgParam(j.id), ToPgParam(dep)});
        !st) {
      return st;
    }
  }
  return OkStatus();
}

Status PgRowWriter::UpdateJob(const JobUpdate& u) {
  const Job& j = u.job;
  std::vector<PgParam> params = JobMutableParams(j);
  params.push_back(ToPgParam(j.id));
  params.push_back(ToPgParam(j.workspace_id));
  params.push_back(ToPgParam(core::JobStateName(u.expected_status)));
  // The compare-and-set, then the status its conflict names (read whether or not it is needed:
  // at this point of the pipeline it is what a read after the miss would see).
  auto changed = std::make_shared<int64_t>(0);
  if (Status st = Send(conn_, kUpdateJob, params,
                       [changed](const PgResult& r) {
                         *changed = r.affected_rows();
                         return OkStatus();
                       });
      !st) {
    return st;
  }
  return Send(conn_, kJobStatus, {ToPgParam(j.id), ToPgParam(j.workspace_id)},
              [changed, id = j.id,
               requested = std::string(core::JobStateName(j.status))](const PgResult& cur) {
                if (*changed > 0) return OkStatus();
                if (cur.rows() == 0)
                  return Status(MakeError(ErrorCode::kNotFound, "job not found"));
                const std::string current = ColText(cur, 0, 0);
                Error err = MakeError(ErrorCode::kConflict, "job " + id + " is " + current);
                err.With("current_state", current).With("requested_state", requested);
                return Status(std::move(err));
              });
}

Status PgRowWriter::CheckPreconditions(std::span<const JobPrecondition> pre) {
  for (const JobPrecondition& p : pre) {
    if (p.allowed.empty()) {
      // After the answers of the preconditions before it, as when they were read one by one.
      if (Status st = conn_.Flush(); !st) return st;
      return MakeError(ErrorCode::kInvalidRequest, "a job precondition allows no status");
    }
    if (Status st =
            Send(conn_, kJobStatusForShare, {ToPgParam(p.job_id), ToPgParam(p.workspace_id)},
                 [job_id = p.job_id, allowed_states = p.allowed](const PgResult& r) {
                   if (r.rows() == 0) return Status(NotFound("job", job_id));
                   const std::string current = ColText(r, 0, 0);
                   const bool allowed =
                       std::any_of(allowed_states.begin(), allowed_states.end(),
                                   [&](JobState s) { return core::JobStateName(s) == current; });
                   if (allowed) return OkStatus();
                   Error err = MakeError(ErrorCode::kConflict, "job " + job_id + " is " + current);
                   err.With("job_id", job_id).With("current_state", current);
                   return Status(std::move(err));
                 });
        !st) {
      return st;
    }
  }
  return OkStatus();
}

Result<Job> PgStore::GetJob(const std::string& workspace_id, const std::string& id) {
  Result<PgResult> r = Query(kGetJob, id, workspace_id);
  if (!r) return std::move(r).error();
  if (r->rows() == 0) return MakeError(ErrorCode::kNotFound, "job not found");
  return ReadJob(*r, 0);
}

Result<std::vector<Job>> PgStore::ListJobSubtree(const std::string& workspace_id,
                                                 const std::string& root_id, int max_jobs) {
  if (max_jobs < 1) return MakeError(ErrorCode::kInvalidRequest, "max_jobs must be >= 1");
  Result<std::vector<Job>> rows =
      ReadAll<Job>(Query(kJobSubtree, root_id, workspace_id, max_jobs), ReadJob);
  if (rows && rows->empty()) return MakeError(ErrorCode::kNotFound, "job not found");
  return rows;
}

Result<bool> PgStore::JobInSubtree(const std::string& workspace_id, const std::string& ancestor_id,
                                   const std::string& job_id) {
  Result<PgResult> r = Query(kJobInSubtree, ancestor_id, job_id, workspace_id);
  if (!r) return std::move(r).error();
  return r->rows() > 0;
}

Result<std::vector<Job>> PgStore::ListActiveDescendants(const std::string& workspace_id,
                                                        const std::string& ancestor_id,
                                                        int max_jobs) {
  if (max_jobs < 1) return MakeError(ErrorCode::kInvalidRequest, "max_jobs must be >= 1");
  return ReadAll<Job>(Query(kActiveDescendants, ancestor_id, workspace_id, max_jobs), ReadJob);
}

Result<std::vector<Job>> PgStore::ListActiveDependents(const std::string& workspace_id,
                                                       const std::string& job_id, int max_jobs) {
  if (max_jobs < 1) return MakeError(ErrorCode::kInvalidRequest, "max_jobs must be >= 1");
  return ReadAll<Job>(Query(kActiveDependents, job_id, workspace_id, max_jobs), ReadJob);
}

Result<Page<Job>> PgStore::ListJobs(const std::string& workspace_id, const JobQuery& query) {
  if (query.limit < 1) return MakeError(ErrorCode::kInvalidRequest, "limit must be >= 1");
  SqlParams p;
  std::string sql = std::string(kSelectJobs) + " WHERE workspace_id = " + p.Add(workspace_id);
  if (query.status) sql += " AND status = " + p.Add(ToPgParam(core::JobStateName(*query.status)));
  if (query.parent_job_id) {
    sql += query.parent_job_id->empty() ? std::string(" AND parent_job_id IS NULL")
                                        : " AND parent_job_id = " + p.Add(*query.parent_job_id);
  }
  if (query.depth) sql += " AND depth = " + p.Add(ToPgParam(*query.depth));
  sql += KeysetPage(p, query.after_id, query.limit);
  Result<std::vector<Job>> rows = ReadAll<Job>(QuerySql(sql, p), ReadJob);
  if (!rows) return std::move(rows).error();
  return ToPage(std::move(*rows), query.limit);
}

Result<std::vector<Job>> PgStore::ListJobsInStates(const std::vector<JobState>& states) {
  if (states.empty()) return std::vector<Job>{};
  std::vector<std::string_view> names;
  for (JobState st : states) names.push_back(core::JobStateName(st));
  SqlParams p;
  const std::string sql =
      std::string(kSelectJobs) + " WHERE " + StatusIn(p, names) + " ORDER BY id";
  return ReadAll<Job>(QuerySql(sql, p), ReadJob);
}

}  // namespace overseer::store::pg
