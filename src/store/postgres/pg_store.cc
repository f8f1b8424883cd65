// PgStore: opening, the pool, transactions with bounded retries, Apply / ApplyAll, Ping and
// migrations. The other concerns live in the sibling pg_*.cc files.
#include "store/postgres/pg_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "store/postgres/pg_migrations.h"
#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store_internal.h"

namespace overseer::store {
namespace pg {
namespace {

// The server aborted the transaction (serialization failure, deadlock): run it again.
bool Aborted(const PgConnection& c) {
  const std::string& s = c.last_sqlstate();
  return s == "40001" || s == "40P01";
}

constexpr Stmt kPing{"ping", "SELECT 1"};

}  // namespace

Result<PgResult> Run(PgConnection& conn, const Stmt& stmt, const std::vector<PgParam>& params) {
  if (Status st = conn.EnsurePrepared(stmt.name, stmt.sql); !st) return std::move(st).error();
  return conn.ExecPreparedParams(stmt.name, params);
}

Status Send(PgConnection& conn, const Stmt& stmt, const std::vector<PgParam>& params,
            PgConnection::Check check) {
  return conn.Send(stmt.name, stmt.sql, params, std::move(check));
}

Error CorruptRow(std::string_view what) {
  spdlog::error("postgres: unreadable stored row: {}", what);
  return MakeError(ErrorCode::kInternal, "database error");
}

Error NotFound(std::string_view kind, const std::string& id) {
  Error e = MakeError(ErrorCode::kNotFound, std::string(kind) + " not found");
  if (kind == "job") e.With("job_id", id);
  return e;
}

PgStore::PgStore(PgConfig config, PostgresOptions options, std::vector<Migration> migrations)
    : options_(options),
      migrations_(std::move(migrations)),
      pool_(std::move(config), PgPool::Options{options.pool_size}) {}

Result<PgPool::Lease> PgStore::Lease() { return pool_.Acquire(options_.acquire_wait); }

Result<PgResult> PgStore::QueryParams(const Stmt& stmt, const std::vector<PgParam>& params) {
  Result<PgPool::Lease> lease = Lease();
  if (!lease) return std::move(lease).error();
  return Run(**lease, stmt, params);
}

Result<PgResult> PgStore::QuerySql(const std::string& sql, const SqlParams& params) {
  Result<PgPool::Lease> lease = Lease();
  if (!lease) return std::move(lease).error();
  return (*lease)->ExecParams(sql, params.values);
}

Status PgStore::InTransaction(const std::function<Status(PgConnection&)>& write) {
  Result<PgPool::Lease> lease = Lease();
  if (!lease) return std::move(lease).error();
  PgConnection& c = **lease;
  for (int attempt = 0;; ++attempt) {
    // BEGIN goes out with the first statements (a synchronous one flushes it first).
    Result<PgTransaction> txn = PgTransaction::Send(c);
    if (!txn) return std::move(txn).error();
    // What write() left queued is flushed by Commit: with the COMMIT if none of it has a check.
    Status st = write(c);
    if (st) st = txn->Commit();
    if (st || !Aborted(c)) return st;  // a failed write rolls back as `txn` goes
    if (attempt >= options_.conflict_retries) {
      spdlog::warn("postgres: a transaction was aborted {} times in a row; giving up", attempt + 1);
      return MakeError(ErrorCode::kUnavailable,
                       "database busy: the transaction kept conflicting with others; retry");
    }
  }
}

Status PgStore::Apply(const ChangeSet& changes) {
  return InTransaction([&](PgConnection& c) {
    PgRowWriter rows(c);
    return WriteChangeSet(changes, rows);
  });
}

std::vector<Status> PgStore::ApplyAll(std::span<const ChangeSet* const> changes) {
  std::vector<Status> results(changes.size());
  Status whole = InTransaction([&](PgConnection& c) -> Status {
    // Each ChangeSet in a savepoint: SAVEPOINT, its statements and the RELEASE of the one
    // before it travel together (after BEGIN for the first, before COMMIT for the last). The
    // flags say whether the SAVEPOINT and that RELEASE were answered with success: if not, the
    // failure is the transaction's, not the ChangeSet's.
    bool released = true;
    for (size_t i = 0; i < changes.size(); ++i) {
      results[i] = OkStatus();
      bool saved = false;
      if (Status sp = c.SendSql("SAVEPOINT apply_one",
                                [&saved](const PgResult&) {
                                  saved = true;
                                  return OkStatus();
                                });
          !sp) {
        return sp;
      }
      PgRowWriter rows(c);
      Status st = WriteChangeSet(*changes[i], rows);
      if (st) st = rows.Flush();
      if (st) {
        // The last RELEASE goes with the COMMIT (a check would hold the COMMIT back): its
        // failure is the COMMIT's.
        PgConnection::Check note = nullptr;
        if (i + 1 < changes.size()) {
          released = false;
          note = [&released](const PgResult&) {
            released = true;
            return OkStatus();
          };
        }
        if (Status rel = c.SendSql("RELEASE SAVEPOINT apply_one", std::move(note)); !rel) {
          return rel;
        }
        continue;
      }
      // The server aborted the whole transaction, or the connection is gone: every
      // ChangeSet shares that fate (an abort runs them all again).
      if (!saved || !released || Aborted(c) || st.error().code == ErrorCode::kUnavailable) {
        return st;
      }
      results[i] = std::move(st);
      // ROLLBACK TO and RELEASE in one round trip.
      c.Discard();
      Status rb = c.SendSql("ROLLBACK TO SAVEPOINT apply_one");
      if (rb) rb = c.SendSql("RELEASE SAVEPOINT apply_one");
      if (rb) rb = c.Flush();
      if (!rb) return rb;
    }
    return OkStatus();
  });
  if (!whole) std::fill(results.begin(), results.end(), whole);
  return results;
}

Status PgStore::Ping() {
  Result<PgResult> r = Query(kPing);
  if (!r) return std::move(r).error();
  return OkStatus();
}

Status PgStore::Migrate(const std::function<Status(PgConnection&)>& migrate) {
  Result<PgPool::Lease> lease = Lease();
  if (!lease) return std::move(lease).error();
  Status st = migrate(**lease);
  // Statements prepared before were planned for the old tables: forget them everywhere.
  if (Status forgot = (*lease)->DeallocateAll(); !forgot && st) st = forgot;
  pool_.CloseIdle();
  return st;
}

Status PgStore::MigrateUp() {
  return Migrate([&](PgConnection& c) { return MigratePgUp(c, migrations_); });
}

Status PgStore::MigrateDown(int steps) {
  if (steps < 0) return MakeError(ErrorCode::kInvalidRequest, "steps must be >= 0");
  return Migrate([&](PgConnection& c) { return MigratePgDown(c, migrations_, steps); });
}

Result<std::vector<MigrationInfo>> PgStore::Migrations() {
  Result<PgPool::Lease> lease = Lease();
  if (!lease) return std::move(lease).error();
  return DescribePgMigrations(**lease, migrations_);
}

Result<int64_t> PgStore::CountRows(const std::string& table) {
  if (table.empty() || !std::all_of(table.begin(), table.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || ch == '_';
      })) {
    return MakeError(ErrorCode::kInvalidRequest, "bad table name");
  }
  Result<PgPool::Lease> lease = Lease();
  if (!lease) return std::move(lease).error();
  Result<PgResult> r = (*lease)->Exec("SELECT COUNT(*) FROM " + table);
  if (!r) return std::move(r).error();
  return ColInt(*r, 0, 0);
}

}  // namespace pg

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url, PostgresOptions options) {
  Result<pg::PgConfig> config = pg::ParsePgUrl(url);
  if (!config) return std::move(config).error();
  Result<std::vector<Migration>> migrations = pg::PostgresMigrations();
  if (!migrations) return std::move(migrations).error();
  options.pool_size = std::max(options.pool_size, 1);
  return std::unique_ptr<Store>(
      std::make_unique<pg::PgStore>(std::move(*config), options, std::move(*migrations)));
}

Result<int64_t> PostgresCountRowsForTest(Store& store, const std::string& table) {
  auto* pg = dynamic_cast<pg::PgStore*>(&store);
  if (pg == nullptr) return MakeError(ErrorCode::kInvalidRequest, "not a PostgreSQL store");
  return pg->CountRows(table);
}

}  // namespace overseer::store
