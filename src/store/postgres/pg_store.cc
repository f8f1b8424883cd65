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

Status PgStore::InTransaction(const std::function<Status(PgConnection&)>& write) {
  Result<PgPool::Lease> lease = Lease();
  if (!lease) return std::move(lease).error();
  PgConnection& c = **lease;
  for (int attempt = 0;; ++attempt) {
    Result<PgTransaction> txn = PgTransaction::Begin(c);
    if (!txn) return std::move(txn).error();
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

Status PgStore::ApplyRows(PgConnection& c, const ChangeSet& changes) {
  // As the SQLite backend: a job or worker inserted and updated in the same ChangeSet is
  // inserted with the values its leading matching updates leave (one row write each).
  if (Status st = CheckPreconditions(c, changes.require_jobs); !st) return st;
  std::vector<bool> folded_jobs(changes.job_updates.size());
  for (const core::Job& job : changes.new_jobs) {
    core::Job row = job;
    for (size_t i = 0; i < changes.job_updates.size(); ++i) {
      const JobUpdate& u = changes.job_updates[i];
      if (u.job.id != job.id || u.job.workspace_id != job.workspace_id) continue;
      if (u.expected_status != row.status) break;
      row = WithMutableColumns(row, u.job);
      folded_jobs[i] = true;
    }
    if (Status st = InsertJob(c, row); !st) return st;
  }
  std::vector<bool> folded_workers(changes.worker_updates.size());
  std::vector<const WorkerUpdate*> chain;
  for (const core::Worker& w : changes.new_workers) {
    chain.clear();
    core::WorkerState status = w.status;
    for (size_t i = 0; i < changes.worker_updates.size(); ++i) {
      const WorkerUpdate& u = changes.worker_updates[i];
      if (u.worker.id != w.id || u.worker.workspace_id != w.workspace_id) continue;
      if (u.expected_status != status) break;
      status = u.worker.status;
      chain.push_back(&u);
      folded_workers[i] = true;
    }
    if (Status st = InsertWorkerUpdated(c, w, chain); !st) return st;
  }
  for (size_t i = 0; i < changes.worker_updates.size(); ++i) {
    if (folded_workers[i]) continue;
    if (Status st = UpdateWorker(c, changes.worker_updates[i]); !st) return st;
  }
  for (size_t i = 0; i < changes.job_updates.size(); ++i) {
    if (folded_jobs[i]) continue;
    if (Status st = UpdateJob(c, changes.job_updates[i]); !st) return st;
  }
  for (const JobHaltChange& h : changes.job_halts) {
    if (Status st = SetJobHalt(c, h); !st) return st;
  }
  for (const WorkspaceHaltChange& h : changes.workspace_halts) {
    if (Status st = SetWorkspaceHalt(c, h); !st) return st;
  }
  for (const JobBudgetChange& b : changes.job_budgets) {
    if (Status st = SetJobBudget(c, b); !st) return st;
  }
  for (const JobUsageChange& u : changes.job_usages) {
    if (Status st = SetJobUsage(c, u); !st) return st;
  }
  for (const core::Allocation& a : changes.new_allocations) {
    if (Status st = InsertAllocation(c, a); !st) return st;
  }
  for (const AllocationRelease& r : changes.released_allocations) {
    if (Status st = ReleaseAllocation(c, r); !st) return st;
  }
  for (const core::Quota& q : changes.quotas) {
    if (Status st = UpsertQuota(c, q); !st) return st;
  }
  for (const core::Event& e : changes.events) {
    if (Status st = InsertEvent(c, e); !st) return st;
  }
  for (const WorkerProcess& p : changes.worker_processes) {
    if (Status st = SetWorkerProcess(c, p); !st) return st;
  }
  for (const SlotLimit& l : changes.slot_limits) {
    if (Status st = CheckSlotLimit(c, l, SlotsRequested(changes, l.workspace_id, l.depth)); !st) {
      return st;
    }
  }
  return OkStatus();
}

Status PgStore::Apply(const ChangeSet& changes) {
  return InTransaction([&](PgConnection& c) { return ApplyRows(c, changes); });
}

std::vector<Status> PgStore::ApplyAll(std::span<const ChangeSet* const> changes) {
  std::vector<Status> results(changes.size());
  Status whole = InTransaction([&](PgConnection& c) -> Status {
    for (size_t i = 0; i < changes.size(); ++i) {
      results[i] = OkStatus();
      Result<PgSavepoint> sp = PgSavepoint::Begin(c, "apply_one");
      if (!sp) return std::move(sp).error();
      Status st = ApplyRows(c, *changes[i]);
      if (st) {
        if (Status rel = sp->Release(); !rel) return rel;
        continue;
      }
      // The server aborted the whole transaction, or the connection is gone: every
      // ChangeSet shares that fate (an abort runs them all again).
      if (Aborted(c) || st.error().code == ErrorCode::kUnavailable) return st;
      results[i] = std::move(st);
      if (Status rb = sp->Rollback(); !rb) return rb;
    }
    return OkStatus();
  });
  if (!whole) std::fill(results.begin(), results.end(), whole);
  return results;
}

Status PgStore::Ping() {
  Result<PgPool::Lease> lease = Lease();
  if (!lease) return std::move(lease).error();
  Result<PgResult> r = RunWith(**lease, kPing);
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
