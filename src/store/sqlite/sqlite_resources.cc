// SqliteStore: quotas and resource allocations.
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/sqlite_internal.h"

namespace overseer::store::internal {
namespace {

using core::Allocation;
using core::Quota;

#define OVERSEER_SQLITE_ALLOCATION_COLUMNS \
  "id, workspace_id, job_id, worker_id, depth, worker_count, allocated_at, released_at"

constexpr std::string_view kInsertAllocation =
    "INSERT INTO resource_allocations (" OVERSEER_SQLITE_ALLOCATION_COLUMNS
    ") VALUES (?,?,?,?,?,?,?,?)";
constexpr std::string_view kReleaseAllocation =
    "UPDATE resource_allocations SET released_at = ? "
    "WHERE id = ? AND workspace_id = ? AND released_at IS NULL";
constexpr std::string_view kHeldAllocations =
    "SELECT " OVERSEER_SQLITE_ALLOCATION_COLUMNS
    " FROM resource_allocations WHERE released_at IS NULL ORDER BY id";
constexpr std::string_view kJobAllocations =
    "SELECT " OVERSEER_SQLITE_ALLOCATION_COLUMNS
    " FROM resource_allocations WHERE workspace_id = ? AND job_id = ? ORDER BY id LIMIT 1000";
constexpr std::string_view kHeldSlots =
    "SELECT COALESCE(SUM(worker_count), 0) FROM resource_allocations "
    "WHERE workspace_id = ? AND depth = ? AND released_at IS NULL";
constexpr std::string_view kListQuotas =
    "SELECT workspace_id, depth, max_workers, updated_at FROM quotas ORDER BY workspace_id, depth";
constexpr std::string_view kUpsertQuota =
    "INSERT INTO quotas (workspace_id, depth, max_workers, updated_at) VALUES (?,?,?,?) "
    "ON CONFLICT (workspace_id, depth) DO UPDATE SET max_workers = excluded.max_workers, "
    "updated_at = excluded.updated_at";

Result<Allocation> ReadAllocation(sqlite3_stmt* s) {
  Allocation a;
  a.id = ColText(s, 0);
  a.workspace_id = ColText(s, 1);
  a.job_id = ColText(s, 2);
  a.worker_id = ColText(s, 3);
  a.depth = ColInt32(s, 4);
  a.worker_count = ColInt32(s, 5);
  a.allocated_at = ColInt(s, 6);
  a.released_at = ColInt(s, 7);
  return a;
}

Result<Quota> ReadQuota(sqlite3_stmt* s) {
  Quota q;
  q.workspace_id = ColText(s, 0);
  q.depth = ColInt32(s, 1);
  q.max_workers = ColInt32(s, 2);
  q.updated_at = ColInt(s, 3);
  return q;
}

}  // namespace

Status SqliteStore::InsertAllocation(const Allocation& a) {
  return Exec(
      kInsertAllocation,
      [&](Binder& b) {
        b.Text(a.id)
            .Text(a.workspace_id)
            .Text(a.job_id)
            .TextOrNull(a.worker_id)
            .Int(a.depth)
            .Int(a.worker_count)
            .Int(a.allocated_at)
            .IntOrNull(a.released_at);
      },
      "insert allocation");
}

Status SqliteStore::ReleaseAllocation(const AllocationRelease& r) {
  auto bind = [&](Binder& b) { b.Int(r.released_at).Text(r.id).Text(r.workspace_id); };
  if (Status st = Exec(kReleaseAllocation, bind, "release allocation"); !st) return st;
  if (sqlite3_changes(db_) == 0) {
    return MakeError(ErrorCode::kNotFound, "allocation not found or already released");
  }
  return OkStatus();
}

Result<std::vector<Quota>> SqliteStore::ListQuotas() {
  std::lock_guard lock(mu_);
  return Query(kListQuotas, NoParams,
               [&](sqlite3_stmt* s) { return Collect<Quota>(s, ReadQuota, "list quotas"); });
}

Status SqliteStore::SetQuotas(const std::vector<Quota>& quotas) {
  std::lock_guard lock(mu_);
  Transaction txn(*this);
  if (Status st = txn.Begin(); !st) return st;
  for (const Quota& q : quotas) {
    if (Status st = UpsertQuota(q); !st) return st;
  }
  return txn.Commit();
}

Status SqliteStore::UpsertQuota(const Quota& q) {
  return Exec(
      kUpsertQuota,
      [&](Binder& b) { b.Text(q.workspace_id).Int(q.depth).Int(q.max_workers).Int(q.updated_at); },
      "set quota");
}

Result<int64_t> SqliteStore::HeldSlots(const SlotLimit& limit) {
  return Query(
      kHeldSlots, [&](Binder& b) { b.Text(limit.workspace_id).Int(limit.depth); },
      [&](sqlite3_stmt* s) -> Result<int64_t> {
        const int rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) return DatabaseError(db_, rc, "held slots");
        return ColInt(s, 0);
      });
}

Result<std::vector<Allocation>> SqliteStore::ListHeldAllocations() {
  std::lock_guard lock(mu_);
  return Query(kHeldAllocations, NoParams, [&](sqlite3_stmt* s) {
    return Collect<Allocation>(s, ReadAllocation, "list held allocations");
  });
}

Result<std::vector<Allocation>> SqliteStore::ListJobAllocations(const std::string& workspace_id,
                                                                const std::string& job_id) {
  std::lock_guard lock(mu_);
  return Query(
      kJobAllocations, [&](Binder& b) { b.Text(workspace_id).Text(job_id); },
      [&](sqlite3_stmt* s) {
        return Collect<Allocation>(s, ReadAllocation, "list job allocations");
      });
}

}  // namespace overseer::store::internal
