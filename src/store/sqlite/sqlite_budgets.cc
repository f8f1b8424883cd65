// SqliteStore: a job's budget and its subtree's usage (0006).
#include <string_view>

#include "store/sqlite/sqlite_internal.h"

namespace overseer::store::internal {
namespace {

constexpr std::string_view kSetJobBudget = "UPDATE jobs SET (" OVERSEER_SQLITE_JOB_BUDGET_COLUMNS
                                           ") = (?,?,?,?,?) WHERE id = ? AND workspace_id = ?";
constexpr std::string_view kSetJobUsage = "UPDATE jobs SET (" OVERSEER_SQLITE_JOB_USAGE_COLUMNS
                                          ") = (?,?,?,?) WHERE id = ? AND workspace_id = ?";

}  // namespace

Status SqliteStore::SetJobBudget(const JobBudgetChange& c) {
  auto bind = [&](Binder& b) {
    BindJobBudget(b, c.budget);
    b.Text(c.job_id).Text(c.workspace_id);
  };
  if (Status st = Exec(kSetJobBudget, bind, "set job budget"); !st) return st;
  if (sqlite3_changes(db_) == 0) {
    Error e = MakeError(ErrorCode::kNotFound, "job not found");
    e.With("job_id", c.job_id);
    return e;
  }
  return OkStatus();
}

Status SqliteStore::SetJobUsage(const JobUsageChange& c) {
  return Exec(
      kSetJobUsage,
      [&](Binder& b) {
        BindJobUsage(b, c.usage);
        b.Text(c.job_id).Text(c.workspace_id);
      },
      "set job usage");
}

}  // namespace overseer::store::internal
