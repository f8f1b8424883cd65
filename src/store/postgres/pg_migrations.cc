// PostgreSQL schema migrations: the advisory lock around a run, schema_migrations, and each
// step (script + record) in its own transaction. See pg_migrations.h.
#include "store/postgres/pg_migrations.h"

#include <spdlog/spdlog.h>

#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/embedded.h"
#include "common/time.h"

namespace overseer::store::pg {
namespace {

constexpr std::string_view kTableExists = "SELECT to_regclass('schema_migrations') IS NOT NULL";
constexpr std::string_view kCreateTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)";
constexpr std::string_view kSelectApplied =
    "SELECT version, name, floor(extract(epoch FROM applied_at) * 1000)::bigint "
    "FROM schema_migrations ORDER BY version";
constexpr std::string_view kInsertApplied =
    "INSERT INTO schema_migrations (version, name, applied_at) "
    "VALUES ($1, $2, timestamptz 'epoch' + $3::bigint * interval '1 millisecond')";
constexpr std::string_view kDeleteApplied = "DELETE FROM schema_migrations WHERE version = $1";

// A transaction the server aborted (kConflict from the connection layer) is, for a migration
// run, a reason to try again later: kUnavailable. Everything else is passed on as it is.
Error ForMigration(Error e) {
  if (e.code == ErrorCode::kConflict) {
    return MakeError(ErrorCode::kUnavailable, "database unavailable");
  }
  return e;
}

Error Internal() { return MakeError(ErrorCode::kInternal, "database error"); }

// The session-level advisory lock kPgMigrationLockKey, held from Take until destruction.
class MigrationLock {
 public:
  static Result<MigrationLock> Take(PgConnection& conn) {
    Result<PgResult> got = conn.Exec("SELECT pg_try_advisory_lock($1)", kPgMigrationLockKey);
    if (!got) return ForMigration(std::move(got).error());
    if (got->rows() != 1) return Internal();
    if (got->Text(0, 0) != "t") {
      spdlog::info("postgres: another process is migrating the schema; waiting for it");
      Result<PgResult> wait = conn.Exec("SELECT pg_advisory_lock($1)", kPgMigrationLockKey);
      if (!wait) return ForMigration(std::move(wait).error());
    }
    return MigrationLock(&conn);
  }
  MigrationLock(MigrationLock&& other) noexcept : conn_(std::exchange(other.conn_, nullptr)) {}
  MigrationLock& operator=(MigrationLock&&) = delete;
  MigrationLock(const MigrationLock&) = delete;
  MigrationLock& operator=(const MigrationLock&) = delete;
  ~MigrationLock() {
    if (conn_ == nullptr) return;
    // A lost connection took the lock with its session.
    if (!conn_->CheckAlive()) return;
    Result<PgResult> r = conn_->Exec("SELECT pg_advisory_unlock($1)", kPgMigrationLockKey);
    if (!r || r->rows() != 1 || r->Text(0, 0) != "t") {
      spdlog::error("postgres: cannot release the migration lock");
    }
  }

 private:
  explicit MigrationLock(PgConnection* conn) : conn_(conn) {}
  PgConnection* conn_;
};

// Migrations run their own transactions: the connection must not be inside one.
Status RequireIdle(PgConnection& conn) {
  if (conn.transaction_status() == PQTRANS_IDLE) return OkStatus();
  if (!conn.CheckAlive()) return MakeError(ErrorCode::kUnavailable, "database unavailable");
  spdlog::error("postgres: migrations called on a connection inside a transaction");
  return Internal();
}

Status CreateTableIfMissing(PgConnection& conn, bool have_lock) {
  Result<PgResult> exists = conn.Exec(kTableExists);
  if (!exists) return ForMigration(std::move(exists).error());
  if (exists->rows() == 1 && exists->Text(0, 0) == "t") return OkStatus();
  // Two sessions running CREATE TABLE IF NOT EXISTS at once can both miss the other's table
  // and one fails on the catalog's unique index: create it under the lock (stacked on one
  // already held: session advisory locks count).
  std::optional<MigrationLock> lock;
  if (!have_lock) {
    Result<MigrationLock> taken = MigrationLock::Take(conn);
    if (!taken) return std::move(taken).error();
    lock.emplace(std::move(*taken));
  }
  Result<PgResult> created = conn.Exec(kCreateTable);
  if (!created) return ForMigration(std::move(created).error());
  return OkStatus();
}

Result<AppliedMap> ReadApplied(PgConnection& conn, bool have_lock) {
  if (Status st = CreateTableIfMissing(conn, have_lock); !st) return std::move(st).error();
  Result<PgResult> rows = conn.Exec(kSelectApplied);
  if (!rows) return ForMigration(std::move(rows).error());
  AppliedMap out;
  for (int i = 0; i < rows->rows(); ++i) {
    const std::optional<int64_t> version = rows->Int64(i, 0);
    const std::optional<int64_t> applied_at = rows->Int64(i, 2);
    if (!version || *version <= 0 || *version > std::numeric_limits<int>::max() || !applied_at) {
      spdlog::error("postgres: schema_migrations holds a malformed row");
      return Internal();
    }
    out[static_cast<int>(*version)] =
        AppliedMigration{std::string(rows->Text(i, 1)), static_cast<TimeMs>(*applied_at)};
  }
  return out;
}

// One step: its script and its schema_migrations row, in one transaction.
Status RunStep(PgConnection& conn, const Migration& m, bool up) {
  Result<PgTransaction> txn = PgTransaction::Begin(conn);
  if (!txn) return ForMigration(std::move(txn).error());
  const std::string& script = up ? m.up_sql : m.down_sql;
  if (Status st = conn.ExecScript(script); !st) {
    spdlog::error("postgres: migration {:04d}_{} {} failed (SQLSTATE {})", m.version, m.name,
                  up ? "up" : "down", conn.last_sqlstate());
    return ForMigration(std::move(st).error());
  }
  Result<PgResult> recorded =
      up ? conn.Exec(kInsertApplied, m.version, m.name, SystemClock::Instance().NowMs())
         : conn.Exec(kDeleteApplied, m.version);
  if (!recorded) return ForMigration(std::move(recorded).error());
  if (Status st = txn->Commit(); !st) return ForMigration(std::move(st).error());
  return OkStatus();
}

}  // namespace

Result<std::vector<Migration>> PostgresMigrations() {
  return ParseMigrations(embedded::postgres_migrations());
}

Result<AppliedMap> ReadAppliedMigrations(PgConnection& conn) {
  if (Status st = RequireIdle(conn); !st) return std::move(st).error();
  return ReadApplied(conn, /*have_lock=*/false);
}

Status MigratePgUp(PgConnection& conn, const std::vector<Migration>& known) {
  if (Status st = RequireIdle(conn); !st) return st;
  Result<MigrationLock> lock = MigrationLock::Take(conn);
  if (!lock) return std::move(lock).error();
  Result<AppliedMap> applied = ReadApplied(conn, /*have_lock=*/true);
  if (!applied) return std::move(applied).error();
  for (const Migration* m : PlanUp(known, *applied)) {
    if (Status st = RunStep(conn, *m, /*up=*/true); !st) return st;
    spdlog::info("postgres: applied migration {:04d}_{}", m->version, m->name);
  }
  return OkStatus();
}

Status MigratePgDown(PgConnection& conn, const std::vector<Migration>& known, int steps) {
  if (steps < 0) return MakeError(ErrorCode::kInvalidRequest, "steps must be >= 0");
  if (Status st = RequireIdle(conn); !st) return st;
  Result<MigrationLock> lock = MigrationLock::Take(conn);
  if (!lock) return std::move(lock).error();
  Result<AppliedMap> applied = ReadApplied(conn, /*have_lock=*/true);
  if (!applied) return std::move(applied).error();
  Result<std::vector<const Migration*>> plan = PlanDown(known, *applied, steps);
  if (!plan) return std::move(plan).error();
  for (const Migration* m : *plan) {
    if (Status st = RunStep(conn, *m, /*up=*/false); !st) return st;
    spdlog::info("postgres: rolled back migration {:04d}_{}", m->version, m->name);
  }
  return OkStatus();
}

Result<std::vector<MigrationInfo>> DescribePgMigrations(PgConnection& conn,
                                                        const std::vector<Migration>& known) {
  Result<AppliedMap> applied = ReadAppliedMigrations(conn);
  if (!applied) return std::move(applied).error();
  return DescribeMigrations(known, *applied);
}

}  // namespace overseer::store::pg
