// SqliteStore: idempotency keys (SPEC §6): begin, finish, drop, purge.
#include <string>
#include <string_view>

#include "store/sqlite/sqlite_internal.h"

namespace overseer::store::internal {
namespace {

constexpr std::string_view kIdemInsert =
    "INSERT INTO idempotency_keys (workspace_id, key, fingerprint, status, body, created_at) "
    "VALUES (?, ?, ?, 0, '', ?) ON CONFLICT (workspace_id, key) DO NOTHING";
constexpr std::string_view kIdemSelect =
    "SELECT fingerprint, status, body FROM idempotency_keys WHERE workspace_id = ? AND key = ?";
constexpr std::string_view kIdemFinish =
    "UPDATE idempotency_keys SET status = ?, body = ?, finished_at = ? "
    "WHERE workspace_id = ? AND key = ?";
constexpr std::string_view kIdemDrop =
    "DELETE FROM idempotency_keys WHERE workspace_id = ? AND key = ? AND status = 0";
constexpr std::string_view kIdemPurgeOld = "DELETE FROM idempotency_keys WHERE created_at < ?";
constexpr std::string_view kIdemPurgeInFlight = "DELETE FROM idempotency_keys WHERE status = 0";

}  // namespace

Result<IdempotencyRecord> SqliteStore::BeginIdempotent(const std::string& workspace_id,
                                                       const std::string& key,
                                                       const std::string& fingerprint, TimeMs now) {
  std::lock_guard lock(mu_);
  auto bind_insert = [&](Binder& b) { b.Text(workspace_id).Text(key).Text(fingerprint).Int(now); };
  if (Status st = Exec(kIdemInsert, bind_insert, "begin idempotent"); !st) {
    return std::move(st).error();
  }
  if (sqlite3_changes(db_) == 1) return IdempotencyRecord{};
  return Query(
      kIdemSelect, [&](Binder& b) { b.Text(workspace_id).Text(key); },
      [&](sqlite3_stmt* s) -> Result<IdempotencyRecord> {
        const int rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) {
          // The row existed a moment ago under the same lock: only a foreign writer removes it.
          return rc == SQLITE_DONE ? MakeError(ErrorCode::kUnavailable, "database error")
                                   : DatabaseError(db_, rc, "read idempotent");
        }
        IdempotencyRecord rec;
        const int status = ColInt32(s, 1);
        if (ColText(s, 0) != fingerprint) {
          rec.outcome = IdempotencyOutcome::kMismatch;
        } else if (status == 0) {
          rec.outcome = IdempotencyOutcome::kInProgress;
        } else {
          rec.outcome = IdempotencyOutcome::kReplay;
          rec.status = status;
          rec.body = ColText(s, 2);
        }
        return rec;
      });
}

Status SqliteStore::FinishIdempotent(const std::string& workspace_id, const std::string& key,
                                     int status, const std::string& body, TimeMs now) {
  if (status <= 0) return MakeError(ErrorCode::kInvalidRequest, "status must be > 0");
  std::lock_guard lock(mu_);
  auto bind = [&](Binder& b) { b.Int(status).Text(body).Int(now).Text(workspace_id).Text(key); };
  if (Status st = Exec(kIdemFinish, bind, "finish idempotent"); !st) return st;
  if (sqlite3_changes(db_) == 0) {
    return MakeError(ErrorCode::kNotFound, "idempotency key not found");
  }
  return OkStatus();
}

Status SqliteStore::DropIdempotent(const std::string& workspace_id, const std::string& key) {
  std::lock_guard lock(mu_);
  return Exec(
      kIdemDrop, [&](Binder& b) { b.Text(workspace_id).Text(key); }, "drop idempotent");
}

Status SqliteStore::PurgeIdempotent(TimeMs cutoff, bool include_in_flight) {
  std::lock_guard lock(mu_);
  Transaction txn(*this);
  if (Status st = txn.Begin(); !st) return st;
  if (Status st = Exec(
          kIdemPurgeOld, [&](Binder& b) { b.Int(cutoff); }, "purge idempotent");
      !st) {
    return st;
  }
  if (include_in_flight) {
    if (Status st = Exec(kIdemPurgeInFlight, NoParams, "purge idempotent"); !st) return st;
  }
  return txn.Commit();
}

}  // namespace overseer::store::internal
