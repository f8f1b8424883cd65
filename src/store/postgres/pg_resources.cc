// PgStore: quotas and resource allocations, the kill switch's rows (a job's halt columns and
// the workspace halts) and a job's budget and subtree usage.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store_internal.h"

namespace overseer::store::pg {
namespace {

using core::Allocation;
using core::Quota;

#define OVERSEER_PG_ALLOCATION_COLUMNS                                         \
  "id, workspace_id, job_id, worker_id, depth, worker_count, " OVERSEER_PG_MS( \
      "allocated_at") ", " OVERSEER_PG_MS("released_at")

constexpr Stmt kInsertAllocation{
    "insert_allocation",
    "INSERT INTO resource_allocations (id, workspace_id, job_id, worker_id, depth, "
    "worker_count, allocated_at, released_at) VALUES ($1, $2, $3, $4, $5, $6, " OVERSEER_PG_TS(
        7) ", " OVERSEER_PG_TS(8) ")"};
constexpr Stmt kReleaseAllocation{
    "release_allocation", "UPDATE resource_allocations SET released_at = " OVERSEER_PG_TS(
                              1) " WHERE id = $2 AND workspace_id = $3 AND released_at IS NULL"};
constexpr Stmt kHeldAllocations{"held_allocations",
                                "SELECT " OVERSEER_PG_ALLOCATION_COLUMNS
                                " FROM resource_allocations WHERE released_at IS NULL ORDER BY id"};
constexpr Stmt kJobAllocations{
    "job_allocations",
    "SELECT " OVERSEER_PG_ALLOCATION_COLUMNS
    " FROM resource_allocations WHERE workspace_id = $1 AND job_id = $2 ORDER BY id LIMIT 1000"};
// Held until the transaction ends; the key is the workspace and depth hashed to 64 bits (a
// collision only serializes two unrelated checks).
constexpr Stmt kLockSlots{"lock_slots",
                          "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))"};
constexpr Stmt kHeldSlots{"held_slots",
                          "SELECT COALESCE(SUM(worker_count), 0) FROM resource_allocations "
                          "WHERE workspace_id = $1 AND depth = $2 AND released_at IS NULL"};
constexpr Stmt kListQuotas{"list_quotas",
                           "SELECT workspace_id, depth, max_workers, " OVERSEER_PG_MS(
                               "updated_at") " FROM quotas ORDER BY workspace_id, depth"};
constexpr Stmt kUpsertQuota{
    "upsert_quota",
    "INSERT INTO quotas (workspace_id, depth, max_workers, updated_at) VALUES ($1, $2, $3, "
    "" OVERSEER_PG_TS(4) ") ON CONFLICT (workspace_id, depth) DO UPDATE SET max_workers = "
                         "excluded.max_workers, updated_at = excluded.updated_at"};

constexpr Stmt kSetJobHalt{
    "set_job_halt",
    "UPDATE jobs SET (halt_mode, halt_reason, halt_by, halt_at, halt_workspace_wide, "
    "halt_budget) = ($1, $2, $3, " OVERSEER_PG_TS(
        4) ", $5, $6) WHERE id = $7 AND workspace_id = $8"};
constexpr Stmt kUpsertWorkspaceHalt{
    "upsert_workspace_halt",
    "INSERT INTO workspace_halts (workspace_id, mode, reason, halted_by, halted_at) VALUES ($1, "
    "$2, $3, $4, " OVERSEER_PG_TS(5) ") ON CONFLICT (workspace_id) DO UPDATE SET mode = "
                                     "excluded.mode, reason = excluded.reason, halted_by = "
                                     "excluded.halted_by, halted_at = excluded.halted_at"};
constexpr Stmt kDeleteWorkspaceHalt{"delete_workspace_halt",
                                    "DELETE FROM workspace_halts WHERE workspace_id = $1"};
constexpr Stmt kListWorkspaceHalts{"list_workspace_halts",
                                   "SELECT workspace_id, mode, reason, halted_by, " OVERSEER_PG_MS(
                                       "halted_at") " FROM workspace_halts ORDER BY workspace_id"};

constexpr Stmt kSetJobBudget{
    "set_job_budget",
    "UPDATE jobs SET (budget_usd, budget_tokens, budget_max_children, budget_max_descendants, "
    "budget_on_exhausted) = ($1, $2, $3, $4, $5) WHERE id = $6 AND workspace_id = $7"};
constexpr Stmt kSetJobUsage{
    "set_job_usage",
    "UPDATE jobs SET (usage_usd, usage_tokens, usage_descendants, usage_children) = ($1, $2, $3, "
    "$4) WHERE id = $5 AND workspace_id = $6"};

Result<Allocation> ReadAllocation(const PgResult& r, int i) {
  Allocation a;
  a.id = ColText(r, i, 0);
  a.workspace_id = ColText(r, i, 1);
  a.job_id = ColText(r, i, 2);
  a.worker_id = ColText(r, i, 3);
  a.depth = static_cast<int>(ColInt(r, i, 4));
  a.worker_count = static_cast<int>(ColInt(r, i, 5));
  a.allocated_at = ColInt(r, i, 6);
  a.released_at = ColInt(r, i, 7);
  return a;
}

Result<Quota> ReadQuota(const PgResult& r, int i) {
  Quota q;
  q.workspace_id = ColText(r, i, 0);
  q.depth = static_cast<int>(ColInt(r, i, 1));
  q.max_workers = static_cast<int>(ColInt(r, i, 2));
  q.updated_at = ColInt(r, i, 3);
  return q;
}

Result<WorkspaceHalt> ReadWorkspaceHalt(const PgResult& r, int i) {
  WorkspaceHalt h;
  h.workspace_id = ColText(r, i, 0);
  const std::string mode = ColText(r, i, 1);
  const std::optional<core::HaltMode> m = core::ParseHaltMode(mode);
  if (!m) return CorruptRow("workspace halt mode " + mode);
  h.halt = core::Halt{*m, ColText(r, i, 2), ColText(r, i, 3), ColInt(r, i, 4), true, false};
  return h;
}

// Sends `stmt`; kNotFound for the job (details.job_id) if it changed no row.
Status UpdateJobColumns(PgConnection& c, const Stmt& stmt, const std::vector<PgParam>& params,
                        const std::string& job_id) {
  return Send(c, stmt, params, [job_id](const PgResult& r) {
    if (r.affected_rows() == 0) return Status(NotFound("job", job_id));
    return OkStatus();
  });
}

}  // namespace

Status PgRowWriter::InsertAllocation(const Allocation& a) {
  return Send(conn_, kInsertAllocation,
              {ToPgParam(a.id), ToPgParam(a.workspace_id), ToPgParam(a.job_id),
               TextOrNull(a.worker_id), ToPgParam(a.depth), ToPgParam(a.worker_count),
               ToPgParam(a.allocated_at), IntOrNull(a.released_at)});
}

Status PgRowWriter::ReleaseAllocation(const AllocationRelease& rel) {
  return Send(
      conn_, kReleaseAllocation,
      {ToPgParam(rel.released_at), ToPgParam(rel.id), ToPgParam(rel.workspace_id)},
      [](const PgResult& r) {
        if (r.affected_rows() > 0) return OkStatus();
        return Status(MakeError(ErrorCode::kNotFound, "allocation not found or already released"));
      });
}

Status PgRowWriter::UpsertQuota(const Quota& q) {
  return Send(conn_, kUpsertQuota,
              {ToPgParam(q.workspace_id), ToPgParam(q.depth), ToPgParam(q.max_workers),
               ToPgParam(q.updated_at)});
}

Result<std::vector<Quota>> PgStore::ListQuotas() {
  return ReadAll<Quota>(Query(kListQuotas), ReadQuota);
}

Status PgStore::SetQuotas(const std::vector<Quota>& quotas) {
  return InTransaction([&](PgConnection& c) -> Status {
    for (const Quota& q : quotas) {
      if (Status st = PgRowWriter(c).UpsertQuota(q); !st) return st;
    }
    return OkStatus();
  });
}

Result<int64_t> PgRowWriter::HeldSlots(const SlotLimit& limit) {
  // The lock and the count go out after the ChangeSet's rows; the count is needed now, so the
  // whole pipeline is read here.
  if (Status st = Send(conn_, kLockSlots,
                       {ToPgParam(limit.workspace_id), ToPgParam(std::to_string(limit.depth))});
      !st) {
    return std::move(st).error();
  }
  int64_t held = 0;
  if (Status st = Send(conn_, kHeldSlots, {ToPgParam(limit.workspace_id), ToPgParam(limit.depth)},
                       [&held](const PgResult& r) {
                         held = ColInt(r, 0, 0);
                         return OkStatus();
                       });
      !st) {
    return std::move(st).error();
  }
  if (Status st = conn_.Flush(); !st) return std::move(st).error();
  return held;
}

Result<std::vector<Allocation>> PgStore::ListHeldAllocations() {
  return ReadAll<Allocation>(Query(kHeldAllocations), ReadAllocation);
}

Result<std::vector<Allocation>> PgStore::ListJobAllocations(const std::string& workspace_id,
                                                            const std::string& job_id) {
  return ReadAll<Allocation>(Query(kJobAllocations, workspace_id, job_id), ReadAllocation);
}

Status PgRowWriter::SetJobHalt(const JobHaltChange& ch) {
  const core::Halt none{};
  const core::Halt& h = ch.halt ? *ch.halt : none;
  return UpdateJobColumns(
      conn_, kSetJobHalt,
      {ToPgParam(ch.halt ? core::HaltModeName(h.mode) : std::string_view("")), ToPgParam(h.reason),
       ToPgParam(h.by), IntOrNull(h.at), ToPgParam(h.workspace_wide), ToPgParam(h.budget),
       ToPgParam(ch.job_id), ToPgParam(ch.workspace_id)},
      ch.job_id);
}

Status PgRowWriter::SetWorkspaceHalt(const WorkspaceHaltChange& ch) {
  if (!ch.halt) return Send(conn_, kDeleteWorkspaceHalt, {ToPgParam(ch.workspace_id)});
  return Send(conn_, kUpsertWorkspaceHalt,
              {ToPgParam(ch.workspace_id), ToPgParam(core::HaltModeName(ch.halt->mode)),
               ToPgParam(ch.halt->reason), ToPgParam(ch.halt->by), ToPgParam(ch.halt->at)});
}

Result<std::vector<WorkspaceHalt>> PgStore::ListWorkspaceHalts() {
  return ReadAll<WorkspaceHalt>(Query(kListWorkspaceHalts), ReadWorkspaceHalt);
}

Status PgRowWriter::SetJobBudget(const JobBudgetChange& ch) {
  std::vector<PgParam> params = JobBudgetParams(ch.budget);
  params.push_back(ToPgParam(ch.job_id));
  params.push_back(ToPgParam(ch.workspace_id));
  return UpdateJobColumns(conn_, kSetJobBudget, params, ch.job_id);
}

Status PgRowWriter::SetJobUsage(const JobUsageChange& ch) {
  std::vector<PgParam> params = JobUsageParams(ch.usage);
  params.push_back(ToPgParam(ch.job_id));
  params.push_back(ToPgParam(ch.workspace_id));
  return Send(conn_, kSetJobUsage, params);  // a job that is not there: skipped
}

}  // namespace overseer::store::pg
