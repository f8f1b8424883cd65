// SqliteStore: opening and configuring the connection, the statement cache, transactions,
// Apply and Ping. The other concerns live in the sibling sqlite_*.cc files.
#include "store/sqlite/sqlite_store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "common/embedded.h"
#include "common/fd_errors.h"
#include "store/sqlite/sqlite_internal.h"

namespace overseer::store {
namespace internal {
namespace {

constexpr std::string_view kBegin = "BEGIN IMMEDIATE";
constexpr std::string_view kCommit = "COMMIT";
constexpr std::string_view kRollback = "ROLLBACK";
constexpr std::string_view kSavepoint = "SAVEPOINT apply_one";
constexpr std::string_view kRollbackToSavepoint = "ROLLBACK TO apply_one";
constexpr std::string_view kReleaseSavepoint = "RELEASE apply_one";
constexpr std::string_view kPing = "SELECT 1";
constexpr std::string_view kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "name TEXT NOT NULL, applied_at INTEGER NOT NULL)";

}  // namespace

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

Error DatabaseError(sqlite3* db, int rc, std::string_view what) {
  // A file the database needs (a temporary or journal file, ...) could not be opened for
  // want of descriptors: say so (503, transient) rather than "database error".
  const int sys_errno = db != nullptr ? sqlite3_system_errno(db) : 0;
  const bool out_of_fds =
      ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_IOERR) && IsOutOfFds(sys_errno);
  spdlog::error("sqlite: {} failed: {} (code {}{})", what,
                db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc,
                out_of_fds ? sys_errno == EMFILE ? ", EMFILE" : ", ENFILE" : "");
  if (out_of_fds) return OutOfFdsError(sys_errno, "the database cannot open a file");
  return MakeError(IsUnavailableCode(rc) ? ErrorCode::kUnavailable : ErrorCode::kInternal,
                   "database error");
}

std::string Marks(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ",?";
  return out;
}

SqliteStore::SqliteStore(sqlite3* db, bool in_memory, std::vector<Migration> migrations)
    : db_(db), in_memory_(in_memory), migrations_(std::move(migrations)) {}

SqliteStore::~SqliteStore() {
  ClearCache();
  const int rc = sqlite3_close(db_);
  if (rc != SQLITE_OK) spdlog::error("sqlite: close failed (code {})", rc);
}

Status SqliteStore::Init() {
  std::lock_guard lock(mu_);
  int rc = sqlite3_extended_result_codes(db_, 1);
  if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(db_, 5000);
  if (rc != SQLITE_OK) return DatabaseError(db_, rc, "configure");
  Status wal = Query("PRAGMA journal_mode=WAL", NoParams, [&](sqlite3_stmt* s) -> Status {
    const int step = sqlite3_step(s);
    if (step != SQLITE_ROW) return DatabaseError(db_, step, "set journal_mode");
    const std::string mode = ColText(s, 0);
    if (mode != "wal" && !in_memory_) {
      spdlog::warn("sqlite: journal_mode is {}, not wal", mode);
    }
    return OkStatus();
  });
  if (!wal) return wal;
  for (std::string_view pragma :
       {std::string_view("PRAGMA synchronous=NORMAL"), std::string_view("PRAGMA foreign_keys=ON"),
        kCreateMigrationsTable}) {
    if (Status st = Run(pragma, "configure"); !st) return st;
  }
  return OkStatus();
}

Status SqliteStore::Ping() {
  std::lock_guard lock(mu_);
  return Query(kPing, NoParams, [&](sqlite3_stmt* s) -> Status {
    const int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) return DatabaseError(db_, rc, "ping");
    return OkStatus();
  });
}

Status SqliteStore::Apply(const ChangeSet& changes) {
  std::lock_guard lock(mu_);
  Transaction txn(*this);
  if (Status st = txn.Begin(); !st) return st;
  if (Status st = ApplyRows(changes); !st) return st;
  return txn.Commit();
}

std::vector<Status> SqliteStore::ApplyAll(std::span<const ChangeSet* const> changes) {
  std::lock_guard lock(mu_);
  std::vector<Status> results(changes.size());
  Transaction txn(*this);
  Status begun = txn.Begin();
  for (size_t i = 0; begun && i < changes.size(); ++i) {
    // Each ChangeSet in its own savepoint: a failure rolls back that one alone.
    if (Status st = Run(kSavepoint, "savepoint"); !st) {
      begun = st;
      break;
    }
    results[i] = ApplyRows(*changes[i]);
    if (!results[i]) {
      if (Status st = Run(kRollbackToSavepoint, "rollback to savepoint"); !st) {
        begun = st;
        break;
      }
    }
    if (Status st = Run(kReleaseSavepoint, "release savepoint"); !st) {
      begun = st;
      break;
    }
  }
  if (begun) begun = txn.Commit();
  if (!begun) std::fill(results.begin(), results.end(), begun);
  return results;
}

Error SqliteStore::CasFailure(std::string_view status_sql, const std::string& workspace_id,
                              const std::string& id, std::string_view kind,
                              std::string_view requested) {
  Result<std::string> current = FindRow<std::string>(
      status_sql, [](sqlite3_stmt* s) -> Result<std::string> { return ColText(s, 0); },
      workspace_id, id, kind, "read status");
  if (!current) return std::move(current).error();
  Error err = MakeError(ErrorCode::kConflict, std::string(kind) + " " + id + " is " + *current);
  err.With("current_state", *current).With("requested_state", std::string(requested));
  return err;
}

Result<int64_t> SqliteStore::CountRows(const std::string& table) {
  if (table.empty() || !std::all_of(table.begin(), table.end(),
                                    [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; })) {
    return MakeError(ErrorCode::kInvalidRequest, "bad table name");
  }
  std::lock_guard lock(mu_);
  return Query("SELECT COUNT(*) FROM " + table, NoParams, [&](sqlite3_stmt* s) -> Result<int64_t> {
    const int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) return DatabaseError(db_, rc, "count rows");
    return ColInt(s, 0);
  });
}

Status SqliteStore::Transaction::Begin() {
  Status st = store_.Run(kBegin, "begin");
  open_ = st.ok();
  return st;
}

Status SqliteStore::Transaction::Commit() {
  Status st = store_.Run(kCommit, "commit");
  if (st.ok()) open_ = false;
  return st;
}

Result<sqlite3_stmt*> SqliteStore::Prepare(std::string_view sql) {
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

void SqliteStore::ClearCache() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  cache_.clear();
}

Status SqliteStore::Run(std::string_view sql, std::string_view what) {
  return Query(sql, NoParams, [&](sqlite3_stmt* s) -> Status {
    const int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return DatabaseError(db_, rc, what);
    return OkStatus();
  });
}

void SqliteStore::RollbackQuietly() {
  if (sqlite3_get_autocommit(db_) != 0) return;  // no transaction left to end
  if (Status st = Run(kRollback, "rollback"); !st) {
    spdlog::error("sqlite: rollback failed; the connection may hold a transaction");
  }
}

}  // namespace internal

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
    Error err = internal::DatabaseError(db, rc, "open " + path);
    sqlite3_close(db);
    return err;
  }
  auto store = std::make_unique<internal::SqliteStore>(db, in_memory, std::move(*migrations));
  if (Status st = store->Init(); !st) return std::move(st).error();
  return std::unique_ptr<Store>(std::move(store));
}

Result<int64_t> SqliteCountRowsForTest(Store& store, const std::string& table) {
  auto* sqlite = dynamic_cast<internal::SqliteStore*>(&store);
  if (sqlite == nullptr) return MakeError(ErrorCode::kInvalidRequest, "not a SQLite store");
  return sqlite->CountRows(table);
}

}  // namespace overseer::store
