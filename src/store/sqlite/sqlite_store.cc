#include "store/sqlite/sqlite_store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/embedded.h"
#include "store/json_list.h"
#include "store/migrations.h"

namespace overseer::store {
namespace {

using core::Job;
using core::JobState;
using core::Worker;
using core::WorkerState;

// Column lists, in the order the row readers below expect.
#define OVERSEER_WORKER_COLUMNS                                                          \
  "id, workspace_id, job_id, status, status_reason, pid, pgid, exit_code, exit_signal, " \
  "attempt, metadata_json, cgroup_path, log_path, created_at, updated_at, started_at, "  \
  "ended_at"
#define OVERSEER_JOB_COLUMNS                                                               \
  "id, workspace_id, name, status, depth, parent_job_id, depends_on, worker_count, "       \
  "timeout_seconds, retry_max_attempts, retry_initial_backoff_ms, retry_max_backoff_ms, "  \
  "retry_multiplier, retry_jitter, task_json, metadata_json, result_json, status_reason, " \
  "created_at, updated_at, started_at, completed_at"

constexpr std::string_view kBegin = "BEGIN IMMEDIATE";
constexpr std::string_view kCommit = "COMMIT";
constexpr std::string_view kRollback = "ROLLBACK";

constexpr std::string_view kInsertJob = "INSERT INTO jobs (" OVERSEER_JOB_COLUMNS
                                        ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
constexpr std::string_view kInsertWorker =
    "INSERT INTO workers (" OVERSEER_WORKER_COLUMNS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
constexpr std::string_view kInsertTransition =
    "INSERT INTO state_transitions (worker_id, workspace_id, from_state, to_state, reason, ts) "
    "VALUES (?,?,?,?,?,?)";
constexpr std::string_view kInsertEvent =
    "INSERT INTO events (workspace_id, kind, subject_id, data_json, created_at) "
    "VALUES (?,?,?,?,?)";
constexpr std::string_view kUpdateWorker =
    "UPDATE workers SET status = ?, status_reason = ?, pid = ?, pgid = ?, exit_code = ?, "
    "exit_signal = ?, attempt = ?, metadata_json = ?, cgroup_path = ?, log_path = ?, "
    "updated_at = ?, started_at = ?, ended_at = ? "
    "WHERE id = ? AND workspace_id = ? AND status = ?";
constexpr std::string_view kUpdateJob =
    "UPDATE jobs SET status = ?, status_reason = ?, started_at = ?, completed_at = ?, "
    "result_json = ?, updated_at = ? WHERE id = ? AND workspace_id = ? AND status = ?";
constexpr std::string_view kWorkerStatus =
    "SELECT status FROM workers WHERE id = ? AND workspace_id = ?";
constexpr std::string_view kJobStatus = "SELECT status FROM jobs WHERE id = ? AND workspace_id = ?";
constexpr std::string_view kGetWorker =
    "SELECT " OVERSEER_WORKER_COLUMNS " FROM workers WHERE id = ? AND workspace_id = ?";
constexpr std::string_view kGetJob =
    "SELECT " OVERSEER_JOB_COLUMNS " FROM jobs WHERE id = ? AND workspace_id = ?";
constexpr std::string_view kListTransitions =
    "SELECT from_state, to_state, reason, ts FROM state_transitions WHERE worker_id = ? "
    "ORDER BY id";
constexpr std::string_view kCountByStatus =
    "SELECT status, COUNT(*) FROM workers WHERE workspace_id = ? GROUP BY status";
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
constexpr std::string_view kPing = "SELECT 1";
constexpr std::string_view kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "name TEXT NOT NULL, applied_at INTEGER NOT NULL)";
constexpr std::string_view kSelectApplied =
    "SELECT version, name, applied_at FROM schema_migrations ORDER BY version";
constexpr std::string_view kInsertApplied =
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)";
constexpr std::string_view kDeleteApplied = "DELETE FROM schema_migrations WHERE version = ?";

bool IsUnavailableCode(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
      return true;
    default:
      return false;
  }
}

// Logs the SQLite message; the returned error carries no SQL or database text.
Error DatabaseError(sqlite3* db, int rc, std::string_view what) {
  spdlog::error("sqlite: {} failed: {} (code {})", what,
                db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc);
  return MakeError(IsUnavailableCode(rc) ? ErrorCode::kUnavailable : ErrorCode::kInternal,
                   "database error");
}

Error CorruptRow(std::string_view what) {
  spdlog::error("sqlite: unreadable stored row: {}", what);
  return MakeError(ErrorCode::kInternal, "database error");
}

// Binds parameters left to right. The bound text must outlive the statement's execution.
class Binder {
 public:
  explicit Binder(sqlite3_stmt* stmt) : stmt_(stmt) {}

  Binder& Text(std::string_view v) {
    return Check(
        sqlite3_bind_text64(stmt_, idx_++, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  Binder& TextOrNull(std::string_view v) { return v.empty() ? Null() : Text(v); }
  Binder& Int(int64_t v) { return Check(sqlite3_bind_int64(stmt_, idx_++, v)); }
  Binder& IntOrNull(int64_t v) { return v == 0 ? Null() : Int(v); }
  Binder& OptInt(std::optional<int> v) { return v ? Int(*v) : Null(); }
  Binder& Real(double v) { return Check(sqlite3_bind_double(stmt_, idx_++, v)); }
  Binder& Null() { return Check(sqlite3_bind_null(stmt_, idx_++)); }

  int rc() const { return rc_; }

 private:
  Binder& Check(int rc) {
    if (rc_ == SQLITE_OK) rc_ = rc;
    return *this;
  }

  sqlite3_stmt* stmt_;
  int idx_ = 1;
  int rc_ = SQLITE_OK;
};

std::string ColText(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  if (p == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(s, i)));
}
int64_t ColInt(sqlite3_stmt* s, int i) { return sqlite3_column_int64(s, i); }
int ColInt32(sqlite3_stmt* s, int i) { return sqlite3_column_int(s, i); }
std::optional<int> ColOptInt(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int(s, i);
}

Result<Worker> ReadWorker(sqlite3_stmt* s) {
  Worker w;
  w.id = ColText(s, 0);
  w.workspace_id = ColText(s, 1);
  w.job_id = ColText(s, 2);
  const std::string status = ColText(s, 3);
  const std::optional<WorkerState> st = core::ParseWorkerState(status);
  if (!st) return CorruptRow("worker status " + status);
  w.status = *st;
  w.status_reason = ColText(s, 4);
  w.pid = ColInt(s, 5);
  w.pgid = ColInt(s, 6);
  w.exit_code = ColOptInt(s, 7);
  w.exit_signal = ColOptInt(s, 8);
  w.attempt = ColInt32(s, 9);
  w.metadata_json = ColText(s, 10);
  w.cgroup_path = ColText(s, 11);
  w.log_path = ColText(s, 12);
  w.created_at = ColInt(s, 13);
  w.updated_at = ColInt(s, 14);
  w.started_at = ColInt(s, 15);
  w.ended_at = ColInt(s, 16);
  return w;
}

Result<Job> ReadJob(sqlite3_stmt* s) {
  Job j;
  j.id = ColText(s, 0);
  j.workspace_id = ColText(s, 1);
  j.name = ColText(s, 2);
  const std::string status = ColText(s, 3);
  const std::optional<JobState> st = core::ParseJobState(status);
  if (!st) return CorruptRow("job status " + status);
  j.status = *st;
  j.depth = ColInt32(s, 4);
  j.parent_job_id = ColText(s, 5);
  Result<std::vector<std::string>> deps = DecodeJsonStringList(ColText(s, 6));
  if (!deps) return CorruptRow("job depends_on");
  j.depends_on = std::move(*deps);
  j.worker_count = ColInt32(s, 7);
  j.timeout_seconds = ColInt(s, 8);
  j.retry.max_attempts = ColInt32(s, 9);
  j.retry.initial_backoff_ms = ColInt(s, 10);
  j.retry.max_backoff_ms = ColInt(s, 11);
  j.retry.multiplier = sqlite3_column_double(s, 12);
  j.retry.jitter = sqlite3_column_double(s, 13);
  j.task_json = ColText(s, 14);
  j.metadata_json = ColText(s, 15);
  j.result_json = ColText(s, 16);
  j.status_reason = ColText(s, 17);
  j.created_at = ColInt(s, 18);
  j.updated_at = ColInt(s, 19);
  j.started_at = ColInt(s, 20);
  j.completed_at = ColInt(s, 21);
  return j;
}

// "?,?,?" with n marks.
std::string Marks(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ",?";
  return out;
}

struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite3* db, bool in_memory, std::vector<Migration> migrations)
      : db_(db), in_memory_(in_memory), migrations_(std::move(migrations)) {}

  ~SqliteStore() override {
    ClearCache();
    const int rc = sqlite3_close(db_);
    if (rc != SQLITE_OK) spdlog::error("sqlite: close failed (code {})", rc);
  }

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // PRAGMAs and the schema_migrations table.
  Status Init() {
    std::lock_guard lock(mu_);
    int rc = sqlite3_extended_result_codes(db_, 1);
    if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(db_, 5000);
    if (rc != SQLITE_OK) return DatabaseError(db_, rc, "configure");
    {
      Result<sqlite3_stmt*> s = Prepare("PRAGMA journal_mode=WAL");
      if (!s) return std::move(s).error();
      Use use(*s);
      rc = sqlite3_step(*s);
      if (rc != SQLITE_ROW) return DatabaseError(db_, rc, "set journal_mode");
      const std::string mode = ColText(*s, 0);
      if (mode != "wal" && !in_memory_) {
        spdlog::warn("sqlite: journal_mode is {}, not wal", mode);
      }
    }
    for (std::string_view pragma :
         {std::string_view("PRAGMA synchronous=NORMAL"), std::string_view("PRAGMA foreign_keys=ON"),
          kCreateMigrationsTable}) {
      if (Status st = Run(pragma, "configure"); !st) return st;
    }
    return OkStatus();
  }

  Status MigrateUp() override {
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

  Status MigrateDown(int steps) override {
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

  Result<std::vector<MigrationInfo>> Migrations() override {
    std::lock_guard lock(mu_);
    Result<AppliedMap> applied = ReadApplied();
    if (!applied) return std::move(applied).error();
    return DescribeMigrations(migrations_, *applied);
  }

  Status Ping() override {
    std::lock_guard lock(mu_);
    Result<sqlite3_stmt*> s = Prepare(kPing);
    if (!s) return std::move(s).error();
    Use use(*s);
    const int rc = sqlite3_step(*s);
    if (rc != SQLITE_ROW) return DatabaseError(db_, rc, "ping");
    return OkStatus();
  }

  Status Apply(const ChangeSet& changes) override {
    std::lock_guard lock(mu_);
    Transaction txn(*this);
    if (Status st = txn.Begin(); !st) return st;
    for (const Job& job : changes.new_jobs) {
      if (Status st = InsertJob(job); !st) return st;
    }
    for (const Worker& w : changes.new_workers) {
      if (Status st = InsertWorker(w); !st) return st;
      core::Transition t;
      t.to_state = std::string(core::WorkerStateName(w.status));
      t.reason = w.status_reason.empty() ? "CREATED" : w.status_reason;
      t.timestamp = w.created_at;
      if (Status st = InsertTransition(w.id, w.workspace_id, t); !st) return st;
    }
    for (const WorkerUpdate& u : changes.worker_updates) {
      if (Status st = UpdateWorker(u); !st) return st;
    }
    for (const JobUpdate& u : changes.job_updates) {
      if (Status st = UpdateJob(u); !st) return st;
    }
    for (const core::Event& e : changes.events) {
      if (Status st = InsertEvent(e); !st) return st;
    }
    return txn.Commit();
  }

  Result<Job> GetJob(const std::string& workspace_id, const std::string& id) override {
    std::lock_guard lock(mu_);
    Result<sqlite3_stmt*> s = Prepare(kGetJob);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    b.Text(id).Text(workspace_id);
    if (b.rc() != SQLITE_OK) return DatabaseError(db_, b.rc(), "bind");
    const int rc = sqlite3_step(*s);
    if (rc == SQLITE_DONE) return MakeError(ErrorCode::kNotFound, "job not found");
    if (rc != SQLITE_ROW) return DatabaseError(db_, rc, "get job");
    return ReadJob(*s);
  }

  Result<Page<Job>> ListJobs(const std::string& workspace_id, const JobQuery& query) override {
    if (query.limit < 1) return MakeError(ErrorCode::kInvalidRequest, "limit must be >= 1");
    std::string sql = "SELECT " OVERSEER_JOB_COLUMNS " FROM jobs WHERE workspace_id = ?";
    if (query.status) sql += " AND status = ?";
    if (query.parent_job_id) {
      sql += query.parent_job_id->empty() ? " AND parent_job_id IS NULL" : " AND parent_job_id = ?";
    }
    if (query.depth) sql += " AND depth = ?";
    sql += " AND id > ? ORDER BY id LIMIT ?";
    std::lock_guard lock(mu_);
    Result<sqlite3_stmt*> s = Prepare(sql);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    b.Text(workspace_id);
    if (query.status) b.Text(core::JobStateName(*query.status));
    if (query.parent_job_id && !query.parent_job_id->empty()) b.Text(*query.parent_job_id);
    if (query.depth) b.Int(*query.depth);
    b.Text(query.after_id).Int(static_cast<int64_t>(query.limit) + 1);
    if (b.rc() != SQLITE_OK) return DatabaseError(db_, b.rc(), "bind");
    Result<std::vector<Job>> rows = Collect<Job>(*s, ReadJob, "list jobs");
    if (!rows) return std::move(rows).error();
    return MakePage(std::move(*rows), query.limit);
  }

  Result<Worker> GetWorker(const std::string& workspace_id, const std::string& id) override {
    std::lock_guard lock(mu_);
    Result<sqlite3_stmt*> s = Prepare(kGetWorker);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    b.Text(id).Text(workspace_id);
    if (b.rc() != SQLITE_OK) return DatabaseError(db_, b.rc(), "bind");
    const int rc = sqlite3_step(*s);
    if (rc == SQLITE_DONE) return MakeError(ErrorCode::kNotFound, "worker not found");
    if (rc != SQLITE_ROW) return DatabaseError(db_, rc, "get worker");
    return ReadWorker(*s);
  }

  Result<Page<Worker>> ListWorkers(const std::string& workspace_id,
                                   const WorkerQuery& query) override {
    if (query.limit < 1) return MakeError(ErrorCode::kInvalidRequest, "limit must be >= 1");
    std::string sql = "SELECT " OVERSEER_WORKER_COLUMNS " FROM workers WHERE workspace_id = ?";
    if (query.status) sql += " AND status = ?";
    if (!query.job_id.empty()) sql += " AND job_id = ?";
    sql += " AND id > ? ORDER BY id LIMIT ?";
    std::lock_guard lock(mu_);
    Result<sqlite3_stmt*> s = Prepare(sql);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    b.Text(workspace_id);
    if (query.status) b.Text(core::WorkerStateName(*query.status));
    if (!query.job_id.empty()) b.Text(query.job_id);
    b.Text(query.after_id).Int(static_cast<int64_t>(query.limit) + 1);
    if (b.rc() != SQLITE_OK) return DatabaseError(db_, b.rc(), "bind");
    Result<std::vector<Worker>> rows = Collect<Worker>(*s, ReadWorker, "list workers");
    if (!rows) return std::move(rows).error();
    return MakePage(std::move(*rows), query.limit);
  }

  Result<std::vector<core::Transition>> ListTransitions(const std::string& worker_id) override {
    std::lock_guard lock(mu_);
    Result<sqlite3_stmt*> s = Prepare(kListTransitions);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    b.Text(worker_id);
    if (b.rc() != SQLITE_OK) return DatabaseError(db_, b.rc(), "bind");
    return Collect<core::Transition>(
        *s,
        [](sqlite3_stmt* st) -> Result<core::Transition> {
          return core::Transition{ColText(st, 0), ColText(st, 1), ColText(st, 2), ColInt(st, 3)};
        },
        "list transitions");
  }

  Result<std::vector<Worker>> ListWorkersInStates(const std::vector<WorkerState>& states) override {
    if (states.empty()) return std::vector<Worker>{};
    const std::string sql = "SELECT " OVERSEER_WORKER_COLUMNS " FROM workers WHERE status IN (" +
                            Marks(states.size()) + ") ORDER BY id";
    std::lock_guard lock(mu_);
    Result<sqlite3_stmt*> s = Prepare(sql);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    for (WorkerState st : states) b.Text(core::WorkerStateName(st));
    if (b.rc() != SQLITE_OK) return DatabaseError(db_, b.rc(), "bind");
    return Collect<Worker>(*s, ReadWorker, "list workers in states");
  }

  Result<std::vector<Job>> ListJobsInStates(const std::vector<JobState>& states) override {
    if (states.empty()) return std::vector<Job>{};
    const std::string sql = "SELECT " OVERSEER_JOB_COLUMNS " FROM jobs WHERE status IN (" +
                            Marks(states.size()) + ") ORDER BY id";
    std::lock_guard lock(mu_);
    Result<sqlite3_stmt*> s = Prepare(sql);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    for (JobState st : states) b.Text(core::JobStateName(st));
    if (b.rc() != SQLITE_OK) return DatabaseError(db_, b.rc(), "bind");
    return Collect<Job>(*s, ReadJob, "list jobs in states");
  }

  // Every worker state in enum order, zero counts included.
  Result<std::vector<std::pair<WorkerState, int64_t>>> CountWorkersByStatus(
      const std::string& workspace_id) override {
    constexpr std::array<WorkerState, 7> kAll = {WorkerState::kIdle,      WorkerState::kRunning,
                                                 WorkerState::kPaused,    WorkerState::kCompleted,
                                                 WorkerState::kFailed,    WorkerState::kRetrying,
                                                 WorkerState::kTerminated};
    std::vector<std::pair<WorkerState, int64_t>> out;
    out.reserve(kAll.size());
    for (WorkerState st : kAll) out.emplace_back(st, 0);
    std::lock_guard lock(mu_);
    Result<sqlite3_stmt*> s = Prepare(kCountByStatus);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    b.Text(workspace_id);
    if (b.rc() != SQLITE_OK) return DatabaseError(db_, b.rc(), "bind");
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(*s)) == SQLITE_ROW) {
      const std::string name = ColText(*s, 0);
      const std::optional<WorkerState> st = core::ParseWorkerState(name);
      if (!st) return CorruptRow("worker status " + name);
      for (auto& [state, count] : out) {
        if (state == *st) count = ColInt(*s, 1);
      }
    }
    if (rc != SQLITE_DONE) return DatabaseError(db_, rc, "count workers");
    return out;
  }

  Result<IdempotencyRecord> BeginIdempotent(const std::string& workspace_id, const std::string& key,
                                            const std::string& fingerprint, TimeMs now) override {
    std::lock_guard lock(mu_);
    {
      Result<sqlite3_stmt*> s = Prepare(kIdemInsert);
      if (!s) return std::move(s).error();
      Use use(*s);
      Binder b(*s);
      b.Text(workspace_id).Text(key).Text(fingerprint).Int(now);
      if (Status st = StepDone(*s, b, "begin idempotent"); !st) return std::move(st).error();
      if (sqlite3_changes(db_) == 1) return IdempotencyRecord{};
    }
    Result<sqlite3_stmt*> s = Prepare(kIdemSelect);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    b.Text(workspace_id).Text(key);
    if (b.rc() != SQLITE_OK) return DatabaseError(db_, b.rc(), "bind");
    const int rc = sqlite3_step(*s);
    if (rc != SQLITE_ROW) {
      // The row existed a moment ago under the same lock: only a foreign writer removes it.
      return rc == SQLITE_DONE ? MakeError(ErrorCode::kUnavailable, "database error")
                               : DatabaseError(db_, rc, "read idempotent");
    }
    IdempotencyRecord rec;
    const int status = ColInt32(*s, 1);
    if (ColText(*s, 0) != fingerprint) {
      rec.outcome = IdempotencyOutcome::kMismatch;
    } else if (status == 0) {
      rec.outcome = IdempotencyOutcome::kInProgress;
    } else {
      rec.outcome = IdempotencyOutcome::kReplay;
      rec.status = status;
      rec.body = ColText(*s, 2);
    }
    return rec;
  }

  Status FinishIdempotent(const std::string& workspace_id, const std::string& key, int status,
                          const std::string& body, TimeMs now) override {
    if (status <= 0) return MakeError(ErrorCode::kInvalidRequest, "status must be > 0");
    std::lock_guard lock(mu_);
    Result<sqlite3_stmt*> s = Prepare(kIdemFinish);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    b.Int(status).Text(body).Int(now).Text(workspace_id).Text(key);
    if (Status st = StepDone(*s, b, "finish idempotent"); !st) return st;
    if (sqlite3_changes(db_) == 0)
      return MakeError(ErrorCode::kNotFound, "idempotency key not found");
    return OkStatus();
  }

  Status DropIdempotent(const std::string& workspace_id, const std::string& key) override {
    std::lock_guard lock(mu_);
    Result<sqlite3_stmt*> s = Prepare(kIdemDrop);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    b.Text(workspace_id).Text(key);
    return StepDone(*s, b, "drop idempotent");
  }

  Status PurgeIdempotent(TimeMs cutoff, bool include_in_flight) override {
    std::lock_guard lock(mu_);
    Transaction txn(*this);
    if (Status st = txn.Begin(); !st) return st;
    {
      Result<sqlite3_stmt*> s = Prepare(kIdemPurgeOld);
      if (!s) return std::move(s).error();
      Use use(*s);
      Binder b(*s);
      b.Int(cutoff);
      if (Status st = StepDone(*s, b, "purge idempotent"); !st) return st;
    }
    if (include_in_flight) {
      Result<sqlite3_stmt*> s = Prepare(kIdemPurgeInFlight);
      if (!s) return std::move(s).error();
      Use use(*s);
      Binder b(*s);
      if (Status st = StepDone(*s, b, "purge idempotent"); !st) return st;
    }
    return txn.Commit();
  }

  Result<int64_t> CountRows(const std::string& table) {
    if (table.empty() || !std::all_of(table.begin(), table.end(),
                                      [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; })) {
      return MakeError(ErrorCode::kInvalidRequest, "bad table name");
    }
    std::lock_guard lock(mu_);
    Result<sqlite3_stmt*> s = Prepare("SELECT COUNT(*) FROM " + table);
    if (!s) return std::move(s).error();
    Use use(*s);
    const int rc = sqlite3_step(*s);
    if (rc != SQLITE_ROW) return DatabaseError(db_, rc, "count rows");
    return ColInt(*s, 0);
  }

 private:
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

    Status Begin() {
      Status st = store_.Run(kBegin, "begin");
      open_ = st.ok();
      return st;
    }
    Status Commit() {
      Status st = store_.Run(kCommit, "commit");
      if (st.ok()) open_ = false;
      return st;
    }

   private:
    SqliteStore& store_;
    bool open_ = false;
  };

  Result<sqlite3_stmt*> Prepare(std::string_view sql) {
    if (auto it = cache_.find(sql); it != cache_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK || stmt == nullptr) {
      sqlite3_finalize(stmt);
      return DatabaseError(db_, rc == SQLITE_OK ? SQLITE_ERROR : rc, "prepare");
    }
    cache_.emplace(std::string(sql), stmt);
    return stmt;
  }

  void ClearCache() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    cache_.clear();
  }

  // Runs a statement that returns no rows.
  Status Run(std::string_view sql, std::string_view what) {
    Result<sqlite3_stmt*> s = Prepare(sql);
    if (!s) return std::move(s).error();
    Use use(*s);
    const int rc = sqlite3_step(*s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return DatabaseError(db_, rc, what);
    return OkStatus();
  }

  void RollbackQuietly() {
    if (sqlite3_get_autocommit(db_) != 0) return;  // no transaction left to end
    if (Status st = Run(kRollback, "rollback"); !st) {
      spdlog::error("sqlite: rollback failed; the connection may hold a transaction");
    }
  }

  Status StepDone(sqlite3_stmt* s, const Binder& b, std::string_view what) {
    if (b.rc() != SQLITE_OK) return DatabaseError(db_, b.rc(), "bind");
    const int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) return DatabaseError(db_, rc, what);
    return OkStatus();
  }

  template <typename T, typename Reader>
  Result<std::vector<T>> Collect(sqlite3_stmt* s, Reader read, std::string_view what) {
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

  template <typename T>
  static Page<T> MakePage(std::vector<T> rows, int limit) {
    Page<T> page;
    if (std::ssize(rows) > limit) {
      rows.resize(static_cast<size_t>(limit));
      page.next_after_id = rows.back().id;
    }
    page.items = std::move(rows);
    return page;
  }

  Status InsertJob(const Job& j) {
    Result<sqlite3_stmt*> s = Prepare(kInsertJob);
    if (!s) return std::move(s).error();
    Use use(*s);
    const std::string deps = EncodeJsonStringList(j.depends_on);
    Binder b(*s);
    b.Text(j.id)
        .Text(j.workspace_id)
        .Text(j.name)
        .Text(core::JobStateName(j.status))
        .Int(j.depth)
        .TextOrNull(j.parent_job_id)
        .Text(deps)
        .Int(j.worker_count)
        .Int(j.timeout_seconds)
        .Int(j.retry.max_attempts)
        .Int(j.retry.initial_backoff_ms)
        .Int(j.retry.max_backoff_ms)
        .Real(j.retry.multiplier)
        .Real(j.retry.jitter)
        .Text(j.task_json)
        .Text(j.metadata_json)
        .TextOrNull(j.result_json)
        .Text(j.status_reason)
        .Int(j.created_at)
        .Int(j.updated_at)
        .IntOrNull(j.started_at)
        .IntOrNull(j.completed_at);
    return StepDone(*s, b, "insert job");
  }

  Status InsertWorker(const Worker& w) {
    Result<sqlite3_stmt*> s = Prepare(kInsertWorker);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    b.Text(w.id)
        .Text(w.workspace_id)
        .Text(w.job_id)
        .Text(core::WorkerStateName(w.status))
        .Text(w.status_reason)
        .IntOrNull(w.pid)
        .IntOrNull(w.pgid)
        .OptInt(w.exit_code)
        .OptInt(w.exit_signal)
        .Int(w.attempt)
        .Text(w.metadata_json)
        .Text(w.cgroup_path)
        .Text(w.log_path)
        .Int(w.created_at)
        .Int(w.updated_at)
        .IntOrNull(w.started_at)
        .IntOrNull(w.ended_at);
    return StepDone(*s, b, "insert worker");
  }

  Status InsertTransition(const std::string& worker_id, const std::string& workspace_id,
                          const core::Transition& t) {
    Result<sqlite3_stmt*> s = Prepare(kInsertTransition);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    b.Text(worker_id)
        .Text(workspace_id)
        .Text(t.from_state)
        .Text(t.to_state)
        .Text(t.reason)
        .Int(t.timestamp);
    return StepDone(*s, b, "insert transition");
  }

  Status InsertEvent(const core::Event& e) {
    Result<sqlite3_stmt*> s = Prepare(kInsertEvent);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    b.Text(e.workspace_id).Text(e.kind).Text(e.subject_id).Text(e.data_json).Int(e.created_at);
    return StepDone(*s, b, "insert event");
  }

  // After a compare-and-set matched no row: kNotFound, or kInvalidStateTransition with the
  // stored status.
  Error CasFailure(std::string_view status_sql, const std::string& workspace_id,
                   const std::string& id, std::string_view kind, std::string_view requested) {
    Result<sqlite3_stmt*> s = Prepare(status_sql);
    if (!s) return std::move(s).error();
    Use use(*s);
    Binder b(*s);
    b.Text(id).Text(workspace_id);
    if (b.rc() != SQLITE_OK) return DatabaseError(db_, b.rc(), "bind");
    const int rc = sqlite3_step(*s);
    if (rc == SQLITE_DONE) return MakeError(ErrorCode::kNotFound, std::string(kind) + " not found");
    if (rc != SQLITE_ROW) return DatabaseError(db_, rc, "read status");
    const std::string current = ColText(*s, 0);
    Error err = MakeError(ErrorCode::kInvalidStateTransition,
                          std::string(kind) + " " + id + " is " + current);
    err.With("current_state", current).With("requested_state", std::string(requested));
    return err;
  }

  Status UpdateWorker(const WorkerUpdate& u) {
    const Worker& w = u.worker;
    const std::string_view to = core::WorkerStateName(w.status);
    const std::string_view expected = core::WorkerStateName(u.expected_status);
    {
      Result<sqlite3_stmt*> s = Prepare(kUpdateWorker);
      if (!s) return std::move(s).error();
      Use use(*s);
      Binder b(*s);
      b.Text(to)
          .Text(w.status_reason)
          .IntOrNull(w.pid)
          .IntOrNull(w.pgid)
          .OptInt(w.exit_code)
          .OptInt(w.exit_signal)
          .Int(w.attempt)
          .Text(w.metadata_json)
          .Text(w.cgroup_path)
          .Text(w.log_path)
          .Int(w.updated_at)
          .IntOrNull(w.started_at)
          .IntOrNull(w.ended_at)
          .Text(w.id)
          .Text(w.workspace_id)
          .Text(expected);
      if (Status st = StepDone(*s, b, "update worker"); !st) return st;
    }
    if (sqlite3_changes(db_) == 0)
      return CasFailure(kWorkerStatus, w.workspace_id, w.id, "worker", to);
    core::Transition t = u.transition;
    if (t.from_state.empty()) t.from_state = std::string(expected);
    if (t.to_state.empty()) t.to_state = std::string(to);
    if (t.timestamp == 0) t.timestamp = w.updated_at;
    return InsertTransition(w.id, w.workspace_id, t);
  }

  Status UpdateJob(const JobUpdate& u) {
    const Job& j = u.job;
    const std::string_view to = core::JobStateName(j.status);
    {
      Result<sqlite3_stmt*> s = Prepare(kUpdateJob);
      if (!s) return std::move(s).error();
      Use use(*s);
      Binder b(*s);
      b.Text(to)
          .Text(j.status_reason)
          .IntOrNull(j.started_at)
          .IntOrNull(j.completed_at)
          .TextOrNull(j.result_json)
          .Int(j.updated_at)
          .Text(j.id)
          .Text(j.workspace_id)
          .Text(core::JobStateName(u.expected_status));
      if (Status st = StepDone(*s, b, "update job"); !st) return st;
    }
    if (sqlite3_changes(db_) == 0) return CasFailure(kJobStatus, j.workspace_id, j.id, "job", to);
    return OkStatus();
  }

  Result<AppliedMap> ReadApplied() {
    Result<sqlite3_stmt*> s = Prepare(kSelectApplied);
    if (!s) return std::move(s).error();
    Use use(*s);
    AppliedMap out;
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(*s)) == SQLITE_ROW) {
      out[ColInt32(*s, 0)] = AppliedMigration{ColText(*s, 1), ColInt(*s, 2)};
    }
    if (rc != SQLITE_DONE) return DatabaseError(db_, rc, "read schema_migrations");
    return out;
  }

  // One migration step in its own transaction, recorded in schema_migrations.
  Status RunMigration(const Migration& m, bool up) {
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
    {
      Result<sqlite3_stmt*> s = Prepare(up ? kInsertApplied : kDeleteApplied);
      if (!s) return std::move(s).error();
      Use use(*s);
      Binder b(*s);
      b.Int(m.version);
      if (up) b.Text(m.name).Int(SystemClock::Instance().NowMs());
      if (Status st = StepDone(*s, b, "record migration"); !st) return st;
    }
    Status st = txn.Commit();
    ClearCache();
    return st;
  }

  std::mutex mu_;
  sqlite3* db_;
  bool in_memory_;
  std::vector<Migration> migrations_;
  std::unordered_map<std::string, sqlite3_stmt*, TransparentHash, std::equal_to<>> cache_;
};

#undef OVERSEER_WORKER_COLUMNS
#undef OVERSEER_JOB_COLUMNS

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  Result<std::vector<Migration>> migrations = ParseMigrations(embedded::sqlite_migrations());
  if (!migrations) return std::move(migrations).error();
  const bool in_memory = path == ":memory:";
  if (!in_memory) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      spdlog::error("sqlite: cannot create directory {}: {}", parent.string(), ec.message());
      return MakeError(ErrorCode::kUnavailable, "cannot create the database directory");
    }
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error err = DatabaseError(db, rc, "open " + path);
    sqlite3_close(db);
    return err;
  }
  auto store = std::make_unique<SqliteStore>(db, in_memory, std::move(*migrations));
  if (Status st = store->Init(); !st) return std::move(st).error();
  return std::unique_ptr<Store>(std::move(store));
}

Result<int64_t> SqliteCountRowsForTest(Store& store, const std::string& table) {
  auto* sqlite = dynamic_cast<SqliteStore*>(&store);
  if (sqlite == nullptr) return MakeError(ErrorCode::kInvalidRequest, "not a SQLite store");
  return sqlite->CountRows(table);
}

}  // namespace overseer::store
