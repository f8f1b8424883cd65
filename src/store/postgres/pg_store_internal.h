// Internal to src/store/postgres: the PgStore class behind OpenPostgresStore (see pg_store.h for
// its contract). The backend is split by concern, as the SQLite one is:
//   pg_store.cc       open, the pool, transactions with bounded retries, Apply, ApplyAll, Ping,
//                     migrations
//   pg_rows.cc        parameters and reading of job and worker rows (pg_rows.h)
//   pg_jobs.cc        job rows, the closure table, preconditions
//   pg_workers.cc     worker rows and their state transitions
//   pg_resources.cc   quotas, allocations, halts, budgets and usage
//   pg_log.cc         the event log and idempotency keys
// Every call leases one connection of the pool for its duration; statements are prepared once
// per connection (by name) and reused. Writes (Apply, ApplyAll) use libpq's pipeline mode: a
// ChangeSet's statements go out without waiting for each answer (BEGIN and SAVEPOINT with
// them), and their answers are checked in order when a result is needed (the slot check) or
// at the end, so that a ChangeSet costs one round trip and the COMMIT another.
// Thread-safe: any number of threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "store/change_writer.h"
#include "store/migrations.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_pool.h"
#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store.h"
#include "store/store.h"

namespace overseer::store::pg {

// A statement prepared under `name` on each connection that runs it.
struct Stmt {
  const char* name;
  std::string_view sql;
};

// Runs `stmt` on `conn` with `params` (preparing it on first use on that connection).
Result<PgResult> Run(PgConnection& conn, const Stmt& stmt, const std::vector<PgParam>& params);
template <typename... Args>
Result<PgResult> RunWith(PgConnection& conn, const Stmt& stmt, const Args&... args) {
  return Run(conn, stmt, {ToPgParam(args)...});
}

// Sends `stmt` with `params` in `conn`'s pipeline (preparing it on first use on that
// connection); `check` runs on its answer at the next Flush (see PgConnection::Send).
Status Send(PgConnection& conn, const Stmt& stmt, const std::vector<PgParam>& params,
            PgConnection::Check check = nullptr);

// The returned error when a row read back cannot be understood (logged; no stored text).
Error CorruptRow(std::string_view what);

// kNotFound "<kind> not found" with details {job_id} when kind is "job".
Error NotFound(std::string_view kind, const std::string& id);

// A ChangeSet's rows on one connection, inside the transaction (and savepoint) its caller opened;
// WriteChangeSet drives it. The statements are pipelined (PgConnection::Send): each method
// queues its statements with the checks that the sequential version made on their answers (a
// compare-and-set that changed no row, a precondition, a row that must exist), and the first
// failure in statement order is what Flush (or HeldSlots, which needs its count) returns, with
// the same error and details. A compare-and-set is followed by the read of the row's status
// its conflict error names, in the same pipeline: it sees what the sequential read after the
// miss saw. Statements after a failed check still run (inside the caller's transaction or
// savepoint, which the caller rolls back). Split by concern: pg_jobs.cc, pg_workers.cc,
// pg_resources.cc, pg_log.cc.
class PgRowWriter final : public RowWriter {
 public:
  explicit PgRowWriter(PgConnection& conn) : conn_(conn) {}

  Status CheckPreconditions(std::span<const JobPrecondition> preconditions) override;
  Status InsertJob(const core::Job& j) override;
  Status InsertWorker(const core::Worker& row,
                      std::span<const core::Transition> transitions) override;
  Status UpdateWorker(const WorkerUpdate& u) override;
  Status UpdateJob(const JobUpdate& u) override;
  Status SetJobHalt(const JobHaltChange& c) override;
  Status SetWorkspaceHalt(const WorkspaceHaltChange& c) override;
  Status SetJobBudget(const JobBudgetChange& c) override;
  Status SetJobUsage(const JobUsageChange& c) override;
  Status InsertAllocation(const core::Allocation& a) override;
  Status ReleaseAllocation(const AllocationRelease& r) override;
  Status UpsertQuota(const core::Quota& q) override;
  Status InsertEvent(const core::Event& e) override;
  Status SetWorkerProcess(const WorkerProcess& p) override;
  // Takes a transaction lock on (workspace, depth) first, so that concurrent checks run one
  // after the other and each sees the allocations of those that committed before it.
  Result<int64_t> HeldSlots(const SlotLimit& limit) override;
  // Reads the answers of everything queued; the first failure in order.
  Status Flush() { return conn_.Flush(); }

 private:
  Status InsertTransition(const std::string& worker_id, const std::string& workspace_id,
                          const core::Transition& t);

  PgConnection& conn_;
};

class PgStore final : public Store {
 public:
  PgStore(PgConfig config, PostgresOptions options, std::vector<Migration> migrations);
  ~PgStore() override = default;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

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

  // See PostgresCountRowsForTest.
  Result<int64_t> CountRows(const std::string& table);
  PgPool& pool() { return pool_; }

 private:
  // A leased connection, or kUnavailable within options_.acquire_wait.
  Result<PgPool::Lease> Lease();
  // `stmt` with `args` on a connection leased for the call; QuerySql for SQL built at run time
  // (list filters), which is not prepared.
  template <typename... Args>
  Result<PgResult> Query(const Stmt& stmt, const Args&... args) {
    return QueryParams(stmt, {ToPgParam(args)...});
  }
  Result<PgResult> QueryParams(const Stmt& stmt, const std::vector<PgParam>& params);
  Result<PgResult> QuerySql(const std::string& sql, const SqlParams& params);

  // Runs write(conn) inside one transaction and commits it. A transaction the server aborted
  // (serialization failure, deadlock) is run again, up to options_.conflict_retries times; then
  // kUnavailable "database busy". Anything else write() returns is returned as it is.
  Status InTransaction(const std::function<Status(PgConnection&)>& write);

  // Runs migrate(conn) on a leased connection, then drops every prepared statement.
  Status Migrate(const std::function<Status(PgConnection&)>& migrate);

  const PostgresOptions options_;
  const std::vector<Migration> migrations_;
  PgPool pool_;
};

}  // namespace overseer::store::pg
