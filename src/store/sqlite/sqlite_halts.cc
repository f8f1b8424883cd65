// SqliteStore: the kill switch's rows — a job's halt columns and the workspace halts (0005).
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/sqlite_internal.h"

namespace overseer::store::internal {
namespace {

constexpr std::string_view kSetJobHalt = "UPDATE jobs SET (" OVERSEER_SQLITE_JOB_HALT_COLUMNS
                                         ") = (?,?,?,?,?,?) WHERE id = ? AND workspace_id = ?";
constexpr std::string_view kUpsertWorkspaceHalt =
    "INSERT INTO workspace_halts (workspace_id, mode, reason, halted_by, halted_at) "
    "VALUES (?,?,?,?,?) ON CONFLICT (workspace_id) DO UPDATE SET mode = excluded.mode, "
    "reason = excluded.reason, halted_by = excluded.halted_by, halted_at = excluded.halted_at";
constexpr std::string_view kDeleteWorkspaceHalt =
    "DELETE FROM workspace_halts WHERE workspace_id = ?";
constexpr std::string_view kListWorkspaceHalts =
    "SELECT workspace_id, mode, reason, halted_by, halted_at FROM workspace_halts "
    "ORDER BY workspace_id";

Result<WorkspaceHalt> ReadWorkspaceHalt(sqlite3_stmt* s) {
  WorkspaceHalt h;
  h.workspace_id = ColText(s, 0);
  const std::string mode = ColText(s, 1);
  const std::optional<core::HaltMode> m = core::ParseHaltMode(mode);
  if (!m) return CorruptRow("workspace halt mode " + mode);
  h.halt = core::Halt{*m, ColText(s, 2), ColText(s, 3), ColInt(s, 4), true, false};
  return h;
}

}  // namespace

Status SqliteStore::SetJobHalt(const JobHaltChange& c) {
  const core::Halt none{};
  const core::Halt& h = c.halt ? *c.halt : none;
  auto bind = [&](Binder& b) {
    // "" (not halted) as text: an empty view without data would bind NULL.
    b.Text(c.halt ? core::HaltModeName(h.mode) : std::string_view(""))
        .Text(h.reason)
        .Text(h.by)
        .Int(h.at)
        .Int(h.workspace_wide ? 1 : 0)
        .Int(h.budget ? 1 : 0)
        .Text(c.job_id)
        .Text(c.workspace_id);
  };
  if (Status st = Exec(kSetJobHalt, bind, "set job halt"); !st) return st;
  if (sqlite3_changes(db_) == 0) {
    Error e = MakeError(ErrorCode::kNotFound, "job not found");
    e.With("job_id", c.job_id);
    return e;
  }
  return OkStatus();
}

Status SqliteStore::SetWorkspaceHalt(const WorkspaceHaltChange& c) {
  if (!c.halt) {
    return Exec(
        kDeleteWorkspaceHalt, [&](Binder& b) { b.Text(c.workspace_id); }, "delete workspace halt");
  }
  const core::Halt& h = *c.halt;
  return Exec(
      kUpsertWorkspaceHalt,
      [&](Binder& b) {
        b.Text(c.workspace_id).Text(core::HaltModeName(h.mode)).Text(h.reason).Text(h.by).Int(h.at);
      },
      "set workspace halt");
}

Result<std::vector<WorkspaceHalt>> SqliteStore::ListWorkspaceHalts() {
  std::lock_guard lock(mu_);
  return Query(kListWorkspaceHalts, NoParams, [&](sqlite3_stmt* s) {
    return Collect<WorkspaceHalt>(s, ReadWorkspaceHalt, "list workspace halts");
  });
}

}  // namespace overseer::store::internal
