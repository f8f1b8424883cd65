// Internal to src/store/sqlite: the SqliteStore class behind OpenSqliteStore (see
// sqlite_store.h for its contract). The backend is split by concern:
//   sqlite_store.cc        open, configure, statement cache, transactions, Apply, Ping
//   sqlite_rows.cc         binding and reading job and worker rows (sqlite_rows.h)
//   sqlite_jobs.cc         job rows
//   sqlite_workers.cc      worker rows and their state transitions
//   sqlite_resources.cc    quotas and resource allocations
//   sqlite_events.cc       the event log
//   sqlite_halts.cc        job and workspace halts (the kill switch)
//   sqlite_idempotency.cc  idempotency keys
//   sqlite_migrations.cc   schema migrations
// Public methods take mu_; private helpers expect it held. Any thread, one call at a time.
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/result.h"
#include "store/change_writer.h"
#include "store/migrations.h"
#include "store/sqlite/sqlite_rows.h"
#include "store/store.h"

namespace overseer::store::internal {

// True for codes that mean "try later" (busy, locked, cannot open, I/O) rather than a bug.
bool IsUnavailableCode(int rc);

// Logs the SQLite message; the returned error (kUnavailable or kInternal) carries no SQL or
// database text. `db` may be null.
Error DatabaseError(sqlite3* db, int rc, std::string_view what);

// "?,?,?" with n marks.
std::string Marks(size_t n);

class SqliteStore final : public Store, private RowWriter {
 public:
  // Takes ownership of the open connection `db`.
  SqliteStore(sqlite3* db, bool in_memory, std::vector<Migration> migrations);
  ~SqliteStore() override;

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // PRAGMAs and the schema_migrations table.
  Status Init();

  Status MigrateUp() override;
  Status MigrateDown(int steps) override;
  Result<std::vector<MigrationInfo>> Migrations() override;

  Status Ping() override;
  Status Apply(const ChangeSet& changes) override;
  std::vector<Status> ApplyAll(std::span<const ChangeSet* const> changes) override;

  Result<core::Job> GetJob(const std::string& workspace_id, const std::string& id) override;
  Result<Page<core::Job>> ListJobs(const std::string& workspace_id, const JobQuery& query) override;
  Result<std::vector<core::Job>> ListJobSubtree(const std::string& workspace_id,
                                                const std::string& root_id, int max_jobs) override;
  Result<bool> JobInSubtree(const std::string& workspace_id, const std::string& ancestor_id,
                            const std::string& job_id) override;
  Result<std::vector<core::Job>> ListActiveDescendants(const std::string& workspace_id,
                                                       const std::string& ancestor_id,
                                                       int max_jobs) override;
  Result<std::vector<core::Job>> ListActiveDependents(const std::string& workspace_id,
                                                      const std::string& job_id,
                                                      int max_jobs) override;
  Result<core::Worker> GetWorker(const std::string& workspace_id, const std::string& id) override;
  Result<Page<core::Worker>> ListWorkers(const std::string& workspace_id,
                                         const WorkerQuery& query) override;
  Result<std::vector<core::Transition>> ListTransitions(const std::string& workspace_id,
                                                        const std::string& worker_id) override;
  Result<std::vector<core::Worker>> ListWorkersInStates(
      const std::vector<core::WorkerState>& states) override;
  Result<std::vector<core::Job>> ListJobsInStates(
      const std::vector<core::JobState>& states) override;
  Result<std::vector<core::Event>> ListEvents(const std::string& workspace_id, int64_t after_seq,
                                              int limit) override;
  Result<int64_t> OldestEventSeq(const std::string& workspace_id) override;
  // Every worker state in enum order, zero counts included.
  Result<std::vector<std::pair<core::WorkerState, int64_t>>> CountWorkersByStatus(
      const std::string& workspace_id) override;

  Result<std::vector<core::Quota>> ListQuotas() override;
  Status SetQuotas(const std::vector<core::Quota>& quotas) override;
  Result<std::vector<WorkspaceHalt>> ListWorkspaceHalts() override;
  Result<std::vector<core::Allocation>> ListHeldAllocations() override;
  Result<std::vector<core::Allocation>> ListJobAllocations(const std::string& workspace_id,
                                                           const std::string& job_id) override;

  Result<IdempotencyRecord> BeginIdempotent(const std::string& workspace_id, const std::string& key,
                                            const std::string& fingerprint, TimeMs now) override;
  Status FinishIdempotent(const std::string& workspace_id, const std::string& key, int status,
                          const std::string& body, TimeMs now) override;
  Status DropIdempotent(const std::string& workspace_id, const std::string& key) override;
  Status PurgeIdempotent(TimeMs cutoff, bool include_in_flight) override;

  // See SqliteCountRowsForTest.
  Result<int64_t> CountRows(const std::string& table);

 private:
  template <typename T>
  using RowReader = Result<T> (*)(sqlite3_stmt*);

  // Resets a cached statement (and drops its bindings) when the scope ends.
  class Use {
   public:
    explicit Use(sqlite3_stmt* s) : s_(s) {}
    ~Use() {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

   private:
    sqlite3_stmt* s_;
  };

  // BEGIN IMMEDIATE ... COMMIT; rolls back when left without a successful Commit().
  class Transaction {
   public:
    explicit Transaction(SqliteStore& store) : store_(store) {}
    ~Transaction() {
      if (open_) store_.RollbackQuietly();
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    Status Begin();
    Status Commit();

   private:
    SqliteStore& store_;
    bool open_ = false;
  };

  // sqlite_store.cc: statements and transactions.

  // The rows of one ChangeSet, inside an open transaction (Apply, ApplyAll): WriteChangeSet
  // through this store's RowWriter methods below.
  Status ApplyRows(const ChangeSet& changes) { return WriteChangeSet(changes, *this); }

  // The cached statement for `sql`, prepared on first use.
  Result<sqlite3_stmt*> Prepare(std::string_view sql);
  void ClearCache();
  // Runs a statement that takes no parameters and whose rows are ignored.
  Status Run(std::string_view sql, std::string_view what);
  void RollbackQuietly();

  // Binds nothing: for Query and Exec on statements without parameters.
  static void NoParams(Binder& /*b*/) {}

  // Prepares `sql`, binds its parameters with bind(Binder&), then returns read(stmt), which
  // steps it; the statement is reset when done. R is a Result; a failed prepare or bind is
  // returned as its error.
  template <typename BindFn, typename ReadFn,
            typename R = std::invoke_result_t<ReadFn&, sqlite3_stmt*>>
  R Query(std::string_view sql, BindFn bind, ReadFn read) {
    Result<sqlite3_stmt*> s = Prepare(sql);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    bind(b);
    if (b.rc() != SQLITE_OK) return DatabaseError(db_, b.rc(), "bind");
    return read(*s);
  }

  // Query for a statement that returns no rows (INSERT, UPDATE, DELETE).
  template <typename BindFn>
  Status Exec(std::string_view sql, BindFn bind, std::string_view what) {
    return Query(sql, bind, [&](sqlite3_stmt* s) -> Status {
      const int rc = sqlite3_step(s);
      if (rc != SQLITE_DONE) return DatabaseError(db_, rc, what);
      return OkStatus();
    });
  }

  // Every row left in the statement `s`, read by `read`.
  template <typename T>
  Result<std::vector<T>> Collect(sqlite3_stmt* s, RowReader<T> read, std::string_view what) {
    std::vector<T> out;
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      Result<T> row = read(s);
      if (!row) return std::move(row).error();
      out.push_back(std::move(*row));
    }
    if (rc != SQLITE_DONE) return DatabaseError(db_, rc, what);
    return out;
  }

  // The one row (id, workspace_id) of `sql`, a SELECT taking those two parameters.
  // kNotFound "<kind> not found" if there is none; `what` names the step in logs.
  template <typename T>
  Result<T> FindRow(std::string_view sql, RowReader<T> read, const std::string& workspace_id,
                    const std::string& id, std::string_view kind, std::string_view what) {
    return Query(
        sql, [&](Binder& b) { b.Text(id).Text(workspace_id); },
        [&](sqlite3_stmt* s) -> Result<T> {
          const int rc = sqlite3_step(s);
          if (rc == SQLITE_DONE) {
            return MakeError(ErrorCode::kNotFound, std::string(kind) + " not found");
          }
          if (rc != SQLITE_ROW) return DatabaseError(db_, rc, what);
          return read(s);
        });
  }

  // The jobs `sql` lists for one job (parameters: job_id, workspace_id, max_jobs), at most
  // `max_jobs` (>= 1, else kInvalidRequest); `what` names the step in logs. Takes mu_.
  Result<std::vector<core::Job>> JobsOf(std::string_view sql, const std::string& workspace_id,
                                        const std::string& job_id, int max_jobs,
                                        std::string_view what);

  // One keyset page: `sql` is a SELECT ending in its WHERE filters, `bind_filters(Binder&)`
  // binds their parameters; rows with id > after_id follow, ascending, at most `limit`.
  template <typename T, typename BindFilters>
  Result<Page<T>> ListPage(std::string sql, BindFilters bind_filters, const std::string& after_id,
                           int limit, RowReader<T> read, std::string_view what) {
    sql += " AND id > ? ORDER BY id LIMIT ?";
    auto bind = [&](Binder& b) {
      bind_filters(b);
      b.Text(after_id).Int(static_cast<int64_t>(limit) + 1);  // one more: is there a next page?
    };
    return Query(sql, bind, [&](sqlite3_stmt* s) -> Result<Page<T>> {
      Result<std::vector<T>> rows = Collect<T>(s, read, what);
      if (!rows) return std::move(rows).error();
      Page<T> page;
      if (std::ssize(*rows) > limit) {
        rows->resize(static_cast<size_t>(limit));
        page.next_after_id = rows->back().id;
      }
      page.items = std::move(*rows);
      return page;
    });
  }

  // Every row of `select` (a SELECT without WHERE) whose status is one of `states`, by id.
  template <typename T>
  Result<std::vector<T>> ListInStates(std::string_view select,
                                      const std::vector<std::string_view>& states,
                                      RowReader<T> read, std::string_view what) {
    if (states.empty()) return std::vector<T>{};
    const std::string sql =
        std::string(select) + " WHERE status IN (" + Marks(states.size()) + ") ORDER BY id";
    return Query(
        sql,
        [&](Binder& b) {
          for (std::string_view st : states) b.Text(st);
        },
        [&](sqlite3_stmt* s) { return Collect<T>(s, read, what); });
  }

  // After a compare-and-set matched no row: kNotFound, or kConflict with the
  // stored status (`status_sql` selects it by id, workspace_id).
  Error CasFailure(std::string_view status_sql, const std::string& workspace_id,
                   const std::string& id, std::string_view kind, std::string_view requested);

  // sqlite_jobs.cc
  Status InsertJob(const core::Job& j) override;
  Status UpdateJob(const JobUpdate& u) override;

  // sqlite_workers.cc
  Status InsertWorker(const core::Worker& row,
                      std::span<const core::Transition> transitions) override;
  Status UpdateWorker(const WorkerUpdate& u) override;
  Status SetWorkerProcess(const WorkerProcess& p) override;
  Status InsertTransition(const std::string& worker_id, const std::string& workspace_id,
                          const core::Transition& t);

  // sqlite_events.cc
  Status InsertEvent(const core::Event& e) override;

  // sqlite_jobs.cc: a ChangeSet's preconditions, before its writes.
  Status CheckPreconditions(std::span<const JobPrecondition> preconditions) override;

  // sqlite_resources.cc
  Status InsertAllocation(const core::Allocation& a) override;
  Status ReleaseAllocation(const AllocationRelease& r) override;
  Status UpsertQuota(const core::Quota& q) override;
  // SQLite's single writer makes the sum and the writes before it one step.
  Result<int64_t> HeldSlots(const SlotLimit& limit) override;

  // sqlite_halts.cc
  Status SetJobHalt(const JobHaltChange& c) override;
  Status SetJobBudget(const JobBudgetChange& c) override;
  Status SetJobUsage(const JobUsageChange& c) override;
  Status SetWorkspaceHalt(const WorkspaceHaltChange& c) override;

  // sqlite_migrations.cc
  Result<AppliedMap> ReadApplied();
  // One migration step in its own transaction, recorded in schema_migrations.
  Status RunMigration(const Migration& m, bool up);

  struct TransparentHash {
    using is_transparent = void;  // NOLINT(readability-identifier-naming): the std protocol
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::mutex mu_;
  sqlite3* db_;
  bool in_memory_;
  std::vector<Migration> migrations_;
  std::unordered_map<std::string, sqlite3_stmt*, TransparentHash, std::equal_to<>> cache_;
};

}  // namespace overseer::store::internal
