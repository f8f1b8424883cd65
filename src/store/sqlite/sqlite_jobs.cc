// SqliteStore: job rows (insert, compare-and-set update, get, list).
#include <algorithm>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/sqlite_internal.h"

namespace overseer::store::internal {
namespace {

using core::Job;
using core::JobState;

constexpr std::string_view kSelectJobs = "SELECT " OVERSEER_SQLITE_JOB_READ_COLUMNS " FROM jobs";
constexpr std::string_view kInsertJob = "INSERT INTO jobs (" OVERSEER_SQLITE_JOB_COLUMNS
                                        ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
constexpr std::string_view kUpdateJob =
    "UPDATE jobs SET (" OVERSEER_SQLITE_JOB_MUTABLE_COLUMNS
    ") = (?,?,?,?,?,?) WHERE id = ? AND workspace_id = ? AND status = ?";
constexpr std::string_view kJobStatus = "SELECT status FROM jobs WHERE id = ? AND workspace_id = ?";
constexpr std::string_view kGetJob =
    "SELECT " OVERSEER_SQLITE_JOB_READ_COLUMNS " FROM jobs WHERE id = ? AND workspace_id = ?";

// The closure table (0007): the root's descendants in one indexed lookup, then the rows.
constexpr std::string_view kJobSubtree =
    "SELECT " OVERSEER_SQLITE_JOB_READ_COLUMNS
    " FROM jobs WHERE workspace_id = ?2 AND id IN (SELECT descendant_id FROM job_hierarchy "
    "WHERE ancestor_id = ?1 AND workspace_id = ?2) ORDER BY depth, id LIMIT ?3";
// A new job's closure rows: itself at distance 0, and every ancestor of its parent one further
// (none for a root, or for a parent of another workspace).
constexpr std::string_view kInsertHierarchy =
    "INSERT INTO job_hierarchy (workspace_id, ancestor_id, descendant_id, distance) "
    "SELECT ?1, ?2, ?2, 0 UNION ALL "
    "SELECT workspace_id, ancestor_id, ?2, distance + 1 FROM job_hierarchy "
    "WHERE descendant_id = ?3 AND workspace_id = ?1";
constexpr std::string_view kJobInSubtree =
    "SELECT 1 FROM job_hierarchy WHERE ancestor_id = ? AND descendant_id = ? AND workspace_id = ?";
// The same lookups for what a cancel or a dependency's end must reach: rows not ended only.
constexpr std::string_view kActiveDescendants =
    "SELECT " OVERSEER_SQLITE_JOB_READ_COLUMNS
    " FROM jobs WHERE workspace_id = ?2 AND status NOT IN ('COMPLETED','FAILED','CANCELED') "
    "AND id IN (SELECT descendant_id FROM job_hierarchy WHERE ancestor_id = ?1 AND "
    "workspace_id = ?2 AND distance > 0) ORDER BY depth, id LIMIT ?3";
constexpr std::string_view kActiveDependents =
    "SELECT " OVERSEER_SQLITE_JOB_READ_COLUMNS
    " FROM jobs WHERE workspace_id = ?2 AND status NOT IN ('COMPLETED','FAILED','CANCELED') "
    "AND id IN (SELECT job_id FROM job_dependencies WHERE depends_on_id = ?1 AND "
    "workspace_id = ?2) ORDER BY id LIMIT ?3";
constexpr std::string_view kInsertDependency =
    "INSERT OR IGNORE INTO job_dependencies (workspace_id, job_id, depends_on_id) VALUES (?,?,?)";

}  // namespace

Status SqliteStore::InsertJob(const Job& j) {
  if (Status st = Exec(
          kInsertJob, [&](Binder& b) { BindJob(b, j); }, "insert job");
      !st) {
    return st;
  }
  // SPEC §8's job_hierarchy and job_dependencies, in the same transaction (a parent is
  // inserted before its children).
  if (Status st = Exec(
          kInsertHierarchy,
          [&](Binder& b) { b.Text(j.workspace_id).Text(j.id).TextOrNull(j.parent_job_id); },
          "insert job hierarchy");
      !st) {
    return st;
  }
  for (const std::string& dep : j.depends_on) {
    if (Status st = Exec(
            kInsertDependency, [&](Binder& b) { b.Text(j.workspace_id).Text(j.id).Text(dep); },
            "insert job dependency");
        !st) {
      return st;
    }
  }
  // Budget and usage columns default to none / zero; set only when the job has them.
  if (j.budget) {
    if (Status st = SetJobBudget(JobBudgetChange{j.workspace_id, j.id, j.budget}); !st) return st;
  }
  if (j.usage != core::JobUsage{}) {
    if (Status st = SetJobUsage(JobUsageChange{j.workspace_id, j.id, j.usage}); !st) return st;
  }
  return OkStatus();
}

Status SqliteStore::UpdateJob(const JobUpdate& u) {
  const Job& j = u.job;
  auto bind = [&](Binder& b) {
    BindJobMutable(b, j);
    b.Text(j.id).Text(j.workspace_id).Text(core::JobStateName(u.expected_status));
  };
  if (Status st = Exec(kUpdateJob, bind, "update job"); !st) return st;
  if (sqlite3_changes(db_) == 0) {
    return CasFailure(kJobStatus, j.workspace_id, j.id, "job", core::JobStateName(j.status));
  }
  return OkStatus();
}

Status SqliteStore::CheckPreconditions(std::span<const JobPrecondition> preconditions) {
  for (const JobPrecondition& p : preconditions) {
    if (p.allowed.empty()) {
      return MakeError(ErrorCode::kInvalidRequest, "a job precondition allows no status");
    }
    Result<std::string> current = FindRow<std::string>(
        kJobStatus, [](sqlite3_stmt* s) -> Result<std::string> { return ColText(s, 0); },
        p.workspace_id, p.job_id, "job", "check job precondition");
    if (!current) {
      Error err = std::move(current).error();
      if (err.code == ErrorCode::kNotFound) err.With("job_id", p.job_id);
      return err;
    }
    const bool allowed = std::any_of(p.allowed.begin(), p.allowed.end(), [&](JobState st) {
      return core::JobStateName(st) == *current;
    });
    if (!allowed) {
      Error err = MakeError(ErrorCode::kConflict, "job " + p.job_id + " is " + *current);
      err.With("job_id", p.job_id).With("current_state", *current);
      return err;
    }
  }
  return OkStatus();
}

Result<Job> SqliteStore::GetJob(const std::string& workspace_id, const std::string& id) {
  std::lock_guard lock(mu_);
  return FindRow<Job>(kGetJob, ReadJob, workspace_id, id, "job", "get job");
}

Result<std::vector<Job>> SqliteStore::JobsOf(std::string_view sql, const std::string& workspace_id,
                                             const std::string& job_id, int max_jobs,
                                             std::string_view what) {
  if (max_jobs < 1) return MakeError(ErrorCode::kInvalidRequest, "max_jobs must be >= 1");
  std::lock_guard lock(mu_);
  return Query(
      sql, [&](Binder& b) { b.Text(job_id).Text(workspace_id).Int(max_jobs); },
      [&](sqlite3_stmt* s) { return Collect<Job>(s, ReadJob, what); });
}

Result<std::vector<Job>> SqliteStore::ListJobSubtree(const std::string& workspace_id,
                                                     const std::string& root_id, int max_jobs) {
  Result<std::vector<Job>> rows =
      JobsOf(kJobSubtree, workspace_id, root_id, max_jobs, "list job subtree");
  if (rows && rows->empty()) return MakeError(ErrorCode::kNotFound, "job not found");
  return rows;
}

Result<bool> SqliteStore::JobInSubtree(const std::string& workspace_id,
                                       const std::string& ancestor_id, const std::string& job_id) {
  std::lock_guard lock(mu_);
  return Query(
      kJobInSubtree, [&](Binder& b) { b.Text(ancestor_id).Text(job_id).Text(workspace_id); },
      [&](sqlite3_stmt* s) -> Result<bool> {
        const int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        return DatabaseError(db_, rc, "job in subtree");
      });
}

Result<std::vector<Job>> SqliteStore::ListActiveDescendants(const std::string& workspace_id,
                                                            const std::string& ancestor_id,
                                                            int max_jobs) {
  return JobsOf(kActiveDescendants, workspace_id, ancestor_id, max_jobs, "list active descendants");
}

Result<std::vector<Job>> SqliteStore::ListActiveDependents(const std::string& workspace_id,
                                                           const std::string& job_id,
                                                           int max_jobs) {
  return JobsOf(kActiveDependents, workspace_id, job_id, max_jobs, "list active dependents");
}

Result<Page<Job>> SqliteStore::ListJobs(const std::string& workspace_id, const JobQuery& query) {
  if (query.limit < 1) return MakeError(ErrorCode::kInvalidRequest, "limit must be >= 1");
  std::string sql = std::string(kSelectJobs) + " WHERE workspace_id = ?";
  if (query.status) sql += " AND status = ?";
  if (query.parent_job_id) {
    sql += query.parent_job_id->empty() ? " AND parent_job_id IS NULL" : " AND parent_job_id = ?";
  }
  if (query.depth) sql += " AND depth = ?";
  std::lock_guard lock(mu_);
  return ListPage<Job>(
      std::move(sql),
      [&](Binder& b) {
        b.Text(workspace_id);
        if (query.status) b.Text(core::JobStateName(*query.status));
        if (query.parent_job_id && !query.parent_job_id->empty()) b.Text(*query.parent_job_id);
        if (query.depth) b.Int(*query.depth);
      },
      query.after_id, query.limit, ReadJob, "list jobs");
}

Result<std::vector<Job>> SqliteStore::ListJobsInStates(const std::vector<JobState>& states) {
  std::vector<std::string_view> names;
  names.reserve(states.size());
  for (JobState st : states) names.push_back(core::JobStateName(st));
  std::lock_guard lock(mu_);
  return ListInStates<Job>(kSelectJobs, names, ReadJob, "list jobs in states");
}

}  // namespace overseer::store::internal
