// SqliteStore: schema migrations (up, down, list), each step in its own transaction and
// recorded in schema_migrations.
#include <spdlog/spdlog.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"
#include "store/sqlite/sqlite_internal.h"

namespace overseer::store::internal {
namespace {

constexpr std::string_view kSelectApplied =
    "SELECT version, name, applied_at FROM schema_migrations ORDER BY version";
constexpr std::string_view kInsertApplied =
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)";
constexpr std::string_view kDeleteApplied = "DELETE FROM schema_migrations WHERE version = ?";

}  // namespace

Status SqliteStore::MigrateUp() {
  std::lock_guard lock(mu_);
  Result<AppliedMap> applied = ReadApplied();
  if (!applied) return std::move(applied).error();
  ClearCache();  // cached statements may name tables the scripts change
  for (const Migration* m : PlanUp(migrations_, *applied)) {
    if (Status st = RunMigration(*m, /*up=*/true); !st) return st;
    spdlog::info("sqlite: applied migration {:04d}_{}", m->version, m->name);
  }
  return OkStatus();
}

Status SqliteStore::MigrateDown(int steps) {
  std::lock_guard lock(mu_);
  Result<AppliedMap> applied = ReadApplied();
  if (!applied) return std::move(applied).error();
  Result<std::vector<const Migration*>> plan = PlanDown(migrations_, *applied, steps);
  if (!plan) return std::move(plan).error();
  ClearCache();
  for (const Migration* m : *plan) {
    if (Status st = RunMigration(*m, /*up=*/false); !st) return st;
    spdlog::info("sqlite: rolled back migration {:04d}_{}", m->version, m->name);
  }
  return OkStatus();
}

Result<std::vector<MigrationInfo>> SqliteStore::Migrations() {
  std::lock_guard lock(mu_);
  Result<AppliedMap> applied = ReadApplied();
  if (!applied) return std::move(applied).error();
  return DescribeMigrations(migrations_, *applied);
}

Result<AppliedMap> SqliteStore::ReadApplied() {
  return Query(kSelectApplied, NoParams, [&](sqlite3_stmt* s) -> Result<AppliedMap> {
    AppliedMap out;
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      out[ColInt32(s, 0)] = AppliedMigration{ColText(s, 1), ColInt(s, 2)};
    }
    if (rc != SQLITE_DONE) return DatabaseError(db_, rc, "read schema_migrations");
    return out;
  });
}

Status SqliteStore::RunMigration(const Migration& m, bool up) {
  Transaction txn(*this);
  if (Status st = txn.Begin(); !st) return st;
  char* errmsg = nullptr;
  const std::string& script = up ? m.up_sql : m.down_sql;
  const int rc = sqlite3_exec(db_, script.c_str(), nullptr, nullptr, &errmsg);
  if (rc != SQLITE_OK) {
    spdlog::error("sqlite: migration {:04d}_{} {} failed: {} (code {})", m.version, m.name,
                  up ? "up" : "down", errmsg != nullptr ? errmsg : "", rc);
    sqlite3_free(errmsg);
    return MakeError(IsUnavailableCode(rc) ? ErrorCode::kUnavailable : ErrorCode::kInternal,
                     "database error");
  }
  auto bind = [&](Binder& b) {
    b.Int(m.version);
    if (up) b.Text(m.name).Int(SystemClock::Instance().NowMs());
  };
  if (Status st = Exec(up ? kInsertApplied : kDeleteApplied, bind, "record migration"); !st) {
    return st;
  }
  Status st = txn.Commit();
  ClearCache();
  return st;
}

}  // namespace overseer::store::internal
