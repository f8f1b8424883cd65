// The conformance suite on SQLite (:memory: and a file), plus SQLite-only behaviour.
#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/types.h"
#include "unit/store/store_conformance.h"

namespace overseer::store {
namespace {

using testing_support::BackendFactory;
using testing_support::StoreBackend;
using testing_support::StoreConformanceTest;

// A fresh temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "overseer_store_XXXXXX";
    char* made = mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class SqliteMemoryBackend final : public StoreBackend {
 public:
  Result<std::unique_ptr<Store>> Open() override { return OpenSqliteStore(":memory:"); }
  bool Persistent() const override { return false; }
  Result<int64_t> CountRows(Store& store, const std::string& table) override {
    return SqliteCountRowsForTest(store, table);
  }
};

class SqliteFileBackend final : public StoreBackend {
 public:
  // A parent directory that does not exist yet: Open creates it.
  Result<std::unique_ptr<Store>> Open() override {
    return OpenSqliteStore(dir_.path() + "/state/overseer.db");
  }
  bool Persistent() const override { return true; }
  Result<int64_t> CountRows(Store& store, const std::string& table) override {
    return SqliteCountRowsForTest(store, table);
  }

 private:
  TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(
    Sqlite, StoreConformanceTest,
    ::testing::Values(BackendFactory{"Memory",
                                     [] { return std::make_unique<SqliteMemoryBackend>(); }},
                      BackendFactory{"File", [] { return std::make_unique<SqliteFileBackend>(); }}),
    testing_support::BackendName);

std::string QueryText(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(s, 0);
      out = t ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return out;
}

TEST(SqliteStoreTest, FileIsInWalModeWithSchemaTables) {
  TempDir dir;
  const std::string path = dir.path() + "/a/b/overseer.db";
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path);
  ASSERT_TRUE(store.ok()) << store.error().message;
  ASSERT_TRUE((*store)->MigrateUp().ok());
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(QueryText(path, "PRAGMA journal_mode"), "wal");
  for (const char* table : {"jobs", "workers", "state_transitions", "idempotency_keys", "events",
                            "quotas", "resource_allocations", "schema_migrations"}) {
    EXPECT_EQ(QueryText(path, std::string("SELECT name FROM sqlite_master WHERE type='table' AND "
                                          "name='") +
                                  table + "'"),
              table);
  }
  Result<std::vector<MigrationInfo>> infos = (*store)->Migrations();
  ASSERT_TRUE(infos.ok());
  ASSERT_TRUE((*store)->MigrateDown(static_cast<int>(infos->size())).ok());
  EXPECT_EQ(QueryText(path,
                      "SELECT COUNT(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                      "AND name <> 'schema_migrations'"),
            "0");
}

// Runs `sql` (statements without results) on the database file; false on any error.
bool ExecSql(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  bool ok = sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK &&
            sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
  sqlite3_close(db);
  return ok;
}

// Rolls `store` back to schema version `version` (every newer migration down).
void MigrateDownTo(Store& store, int version) {
  Result<std::vector<MigrationInfo>> infos = store.Migrations();
  ASSERT_TRUE(infos.ok());
  int newer = 0;
  for (const MigrationInfo& m : *infos) newer += m.applied && m.version > version ? 1 : 0;
  ASSERT_TRUE(store.MigrateDown(newer).ok());
}

constexpr char kEventRows[] =
    "SELECT group_concat(seq || '|' || workspace_id || '|' || type || '|' || job_id || '|' || "
    "worker_id || '|' || from_state || '|' || to_state || '|' || reason || '|' || data_json, "
    "char(10)) FROM (SELECT * FROM events ORDER BY seq)";

TEST(SqliteStoreTest, TypedEventsMigrationCarriesOldRowsOverAndBack) {
  TempDir dir;
  const std::string path = dir.path() + "/overseer.db";
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->MigrateUp().ok());
  MigrateDownTo(**store, 2);
  // Rows as the daemon wrote them before 0003, plus one of a kind it never wrote; the last
  // row is deleted so that the next id (5) is above every remaining one.
  ASSERT_TRUE(ExecSql(path, R"(
      INSERT INTO events (workspace_id, kind, subject_id, data_json, created_at) VALUES
        ('ws1', 'worker.state', 'w_1',
         '{"job_id":"j_1","from":"IDLE","to":"RUNNING","reason":"SPAWNED","attempt":1}', 5),
        ('ws1', 'job.state', 'j_1', '{"from":"PENDING","to":"RUNNING","reason":"WORKERS_STARTED"}', 6),
        ('ws2', 'odd.kind', 'x_1', 'not json', 7),
        ('ws2', 'job.state', 'j_2', '{}', 8);
      DELETE FROM events WHERE seq = 4;)"));
  ASSERT_TRUE((*store)->MigrateUp().ok());
  EXPECT_EQ(QueryText(path, kEventRows),
            "1|ws1|worker.transition|j_1|w_1|IDLE|RUNNING|SPAWNED|{\"attempt\":1}\n"
            "2|ws1|job.transition|j_1||PENDING|RUNNING|WORKERS_STARTED|{}\n"
            "3|ws2|odd.kind||||||{\"subject_id\":\"x_1\"}");
  // A new event takes the next id, never a deleted one.
  core::Event e;
  e.workspace_id = "ws2";
  e.type = core::EventType::kQuotaChanged;
  e.data_json = R"({"depth":0,"max_workers":3})";
  e.created_at = 9;
  ChangeSet cs;
  cs.events = {e};
  ASSERT_TRUE((*store)->Apply(cs).ok());
  EXPECT_EQ(QueryText(path, "SELECT MAX(seq) || type FROM events"), "5quota.changed");
  // Read back typed; the row of an unknown kind is skipped, even by a read of one.
  Result<std::vector<core::Event>> ws1 = (*store)->ListEvents("ws1", 0, 10);
  ASSERT_TRUE(ws1.ok());
  ASSERT_EQ(ws1->size(), 2u);
  EXPECT_EQ((*ws1)[0].type, core::EventType::kWorkerTransition);
  EXPECT_EQ((*ws1)[0].worker_id, "w_1");
  EXPECT_EQ((*ws1)[0].job_id, "j_1");
  EXPECT_EQ((*ws1)[0].to_state, "RUNNING");
  EXPECT_EQ((*ws1)[1].type, core::EventType::kJobTransition);
  EXPECT_EQ((*ws1)[1].reason, "WORKERS_STARTED");
  Result<std::vector<core::Event>> ws2 = (*store)->ListEvents("ws2", 0, 1);
  ASSERT_TRUE(ws2.ok());
  ASSERT_EQ(ws2->size(), 1u);
  EXPECT_EQ(ws2->front().seq, 5);
  EXPECT_EQ(ws2->front().type, core::EventType::kQuotaChanged);
  EXPECT_EQ(*(*store)->OldestEventSeq("ws2"), 3);  // the oldest row, known type or not

  MigrateDownTo(**store, 2);
  EXPECT_EQ(
      QueryText(path,
                "SELECT group_concat(seq || '|' || kind || '|' || subject_id || '|' || "
                "data_json, char(10)) FROM (SELECT * FROM events ORDER BY seq)"),
      "1|worker.state|w_1|{\"attempt\":1,\"job_id\":\"j_1\",\"from\":\"IDLE\",\"to\":"
      "\"RUNNING\",\"reason\":\"SPAWNED\"}\n"
      "2|job.state|j_1|{\"from\":\"PENDING\",\"to\":\"RUNNING\",\"reason\":\"WORKERS_STARTED\"}\n"
      "3|odd.kind|x_1|{}\n"
      "5|quota.changed||{\"depth\":0,\"max_workers\":3}");
  ASSERT_TRUE((*store)->MigrateUp().ok());
}

// SQLite's wording of an internal error: "database error", the details in the log only.
TEST(SqliteStoreTest, InternalErrorsSayDatabaseError) {
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(":memory:");
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->MigrateUp().ok());
  core::Worker w;
  w.id = "w_dup";
  w.workspace_id = "ws1";
  w.job_id = "j_1";
  w.metadata_json = "{}";
  ChangeSet cs;
  cs.new_workers = {w};
  ASSERT_TRUE((*store)->Apply(cs).ok());
  Status dup = (*store)->Apply(cs);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kInternal);
  EXPECT_EQ(dup.error().message, "database error");
  Result<std::vector<MigrationInfo>> infos = (*store)->Migrations();
  ASSERT_TRUE(infos.ok());
  ASSERT_TRUE((*store)->MigrateDown(static_cast<int>(infos->size())).ok());
  Result<core::Worker> gone = (*store)->GetWorker("ws1", w.id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kInternal);
  EXPECT_EQ(gone.error().message, "database error");
}

TEST(SqliteStoreTest, UncreatableDirectoryIsUnavailable) {
  TempDir dir;
  const std::string file = dir.path() + "/plain-file";
  std::ofstream(file) << "x";
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(file + "/sub/overseer.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kUnavailable);
}

TEST(SqliteStoreTest, NotADatabaseIsInternalWithoutDetailsInMessage) {
  TempDir dir;
  const std::string file = dir.path() + "/garbage.db";
  std::ofstream(file) << std::string(4096, 'z');
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(file);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kInternal);
  EXPECT_EQ(store.error().message, "database error");
}

TEST(SqliteStoreTest, LockedDatabaseIsUnavailable) {
  TempDir dir;
  const std::string path = dir.path() + "/overseer.db";
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->MigrateUp().ok());
  // Another process-like connection holds the write lock: the store waits out its busy
  // timeout (5 s), then reports kUnavailable rather than blocking forever.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  Status apply = (*store)->PurgeIdempotent(0, true);
  ASSERT_FALSE(apply.ok());
  EXPECT_EQ(apply.error().code, ErrorCode::kUnavailable);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_TRUE((*store)->PurgeIdempotent(0, true).ok());
}

TEST(SqliteStoreTest, CountRowsRejectsNonIdentifiers) {
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(":memory:");
  ASSERT_TRUE(store.ok());
  Result<int64_t> n = SqliteCountRowsForTest(**store, "jobs; DROP TABLE jobs");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code, ErrorCode::kInvalidRequest);
}

}  // namespace
}  // namespace overseer::store
