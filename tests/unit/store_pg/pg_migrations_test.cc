// The PostgreSQL schema migrations (src/store/migrations/postgres, store/postgres/
// pg_migrations.h) against the binary's real server: each test in a database of its own,
// created from the cluster's superuser connection and dropped at its end.
#include "store/postgres/pg_migrations.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "common/embedded.h"
#include "unit/store_pg/pg_test_env.h"

namespace overseer::store::pg {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAllVersions[] =
    "1|init\n2|resources\n3|typed_events\n4|agents\n5|halts\n6|budgets\n7|job_hierarchy\n8|held_"
    "slots";

// Every row of `sql`'s answer: columns joined by '|', rows by '\n', NULL as "NULL". A failed
// query is a test failure (and "<error>").
std::string Rows(PgConnection& conn, const std::string& sql) {
  Result<PgResult> r = conn.Exec(sql);
  EXPECT_TRUE(r.ok()) << sql;
  if (!r.ok()) return "<error>";
  std::string out;
  for (int row = 0; row < r->rows(); ++row) {
    if (row > 0) out += '\n';
    for (int col = 0; col < r->columns(); ++col) {
      if (col > 0) out += '|';
      out += r->IsNull(row, col) ? std::string("NULL") : std::string(r->Text(row, col));
    }
  }
  return out;
}

// A fresh database per test, and connections to it.
class PgMigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    db_ = "mig_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    admin_ = ConnectOrDie();
    ASSERT_TRUE(admin_->ExecScript("CREATE DATABASE " + db_).ok());
    conn_ = Connect();
    Result<std::vector<Migration>> known = PostgresMigrations();
    ASSERT_TRUE(known.ok()) << known.error().message;
    known_ = std::move(*known);
  }
  void TearDown() override {
    conn_.reset();
    if (admin_ == nullptr) return;
    EXPECT_TRUE(admin_->ExecScript("DROP DATABASE IF EXISTS " + db_ + " WITH (FORCE)").ok());
  }

  std::unique_ptr<PgConnection> Connect() {
    Result<PgConfig> config = ParsePgUrl(Cluster().UrlFor("overseer", "", db_));
    OVERSEER_CHECK(config.ok());
    Result<std::unique_ptr<PgConnection>> conn =
        PgConnection::Connect(*config, std::chrono::seconds(10));
    OVERSEER_CHECK(conn.ok());
    return std::move(*conn);
  }

  std::string Applied() {
    return Rows(*conn_, "SELECT version, name FROM schema_migrations ORDER BY version");
  }
  std::string Tables() {
    return Rows(*conn_,
                "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM "
                "information_schema.tables WHERE table_schema = 'public'");
  }
  bool HasTable(const std::string& name) {
    return Rows(*conn_, "SELECT to_regclass('" + name + "') IS NOT NULL") == "t";
  }
  // True if no session holds the migration lock (another connection can take it).
  bool LockFree() {
    std::unique_ptr<PgConnection> other = Connect();
    const std::string key = std::to_string(kPgMigrationLockKey);
    if (Rows(*other, "SELECT pg_try_advisory_lock(" + key + ")") != "t") return false;
    return Rows(*other, "SELECT pg_advisory_unlock(" + key + ")") == "t";
  }
  int AppliedCount() {
    Result<std::vector<MigrationInfo>> infos = DescribePgMigrations(*conn_, known_);
    OVERSEER_CHECK(infos.ok());
    int n = 0;
    for (const MigrationInfo& m : *infos) n += m.applied ? 1 : 0;
    return n;
  }

  std::string db_;
  std::unique_ptr<PgConnection> admin_;
  std::unique_ptr<PgConnection> conn_;
  std::vector<Migration> known_;
};

TEST_F(PgMigrationsTest, EmbeddedFilesHaveTheSqliteVersionsAndNames) {
  Result<std::vector<Migration>> sqlite = ParseMigrations(embedded::sqlite_migrations());
  ASSERT_TRUE(sqlite.ok());
  ASSERT_EQ(known_.size(), sqlite->size());
  for (size_t i = 0; i < known_.size(); ++i) {
    EXPECT_EQ(known_[i].version, (*sqlite)[i].version);
    EXPECT_EQ(known_[i].name, (*sqlite)[i].name);
    EXPECT_FALSE(known_[i].up_sql.empty());
    EXPECT_FALSE(known_[i].down_sql.empty());
  }
}

TEST_F(PgMigrationsTest, UpAppliesEveryVersionOnceAndASecondUpIsANoOp) {
  // Describe on an empty database creates schema_migrations and reports nothing applied.
  Result<std::vector<MigrationInfo>> before = DescribePgMigrations(*conn_, known_);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 8u);
  for (const MigrationInfo& m : *before) EXPECT_FALSE(m.applied) << m.version;
  EXPECT_EQ(Tables(), "schema_migrations");

  const auto start = std::chrono::system_clock::now();
  ASSERT_TRUE(MigratePgUp(*conn_, known_).ok());
  EXPECT_EQ(Applied(), kAllVersions);
  EXPECT_EQ(Tables(),
            "events,idempotency_keys,job_dependencies,job_hierarchy,jobs,quotas,"
            "resource_allocations,schema_migrations,state_transitions,workers,workspace_halts");
  Result<std::vector<MigrationInfo>> infos = DescribePgMigrations(*conn_, known_);
  ASSERT_TRUE(infos.ok());
  ASSERT_EQ(infos->size(), 8u);
  const TimeMs start_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(start.time_since_epoch()).count();
  for (size_t i = 0; i < infos->size(); ++i) {
    const MigrationInfo& m = (*infos)[i];
    EXPECT_EQ(m.version, static_cast<int>(i) + 1);
    EXPECT_EQ(m.name, known_[i].name);
    EXPECT_TRUE(m.applied);
    EXPECT_GE(m.applied_at, start_ms - 1000);
    EXPECT_LE(m.applied_at, start_ms + 60'000);
  }
  EXPECT_TRUE(LockFree());

  const std::string recorded =
      Rows(*conn_, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version");
  ASSERT_TRUE(MigratePgUp(*conn_, known_).ok());
  EXPECT_EQ(
      Rows(*conn_, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"),
      recorded);
  ASSERT_TRUE(MigratePgDown(*conn_, known_, 0).ok());
  EXPECT_EQ(Applied(), kAllVersions);
}

TEST_F(PgMigrationsTest, ColumnsFollowTheSchemaConventions) {
  ASSERT_TRUE(MigratePgUp(*conn_, known_).ok());
  const std::string cols =
      "SELECT table_name || '.' || column_name FROM information_schema.columns "
      "WHERE table_schema = 'public' AND ";
  // Times are timestamptz, JSON is jsonb, numbers bigint / double precision, flags boolean.
  EXPECT_EQ(Rows(*conn_, cols + "(column_name LIKE '%\\_at' OR column_name = 'ts') AND data_type "
                                "<> 'timestamp with time zone'"),
            "");
  EXPECT_EQ(Rows(*conn_, cols + "(column_name LIKE '%\\_json' OR column_name = 'depends_on') AND "
                                "data_type <> 'jsonb'"),
            "");
  EXPECT_EQ(Rows(*conn_, cols + "data_type NOT IN ('text', 'bigint', 'double precision', "
                                "'boolean', 'jsonb', 'timestamp with time zone')"),
            "");
  EXPECT_EQ(Rows(*conn_, cols + "data_type = 'boolean' ORDER BY 1"),
            "jobs.halt_budget\njobs.halt_workspace_wide");
  EXPECT_EQ(Rows(*conn_, cols + "data_type = 'double precision' ORDER BY 1"),
            "jobs.budget_usd\njobs.retry_jitter\njobs.retry_multiplier\njobs.usage_usd");
  EXPECT_EQ(Rows(*conn_, cols + "is_identity = 'YES' ORDER BY 1"),
            "events.seq\nstate_transitions.id");
  // Nullable where "not set" is a state; defaults as the lead's store expects them.
  EXPECT_EQ(Rows(*conn_,
                 "SELECT table_name || '.' || column_name, is_nullable, coalesce(column_default, "
                 "'') FROM information_schema.columns WHERE table_schema = 'public' AND "
                 "(table_name, column_name) IN (('jobs', 'halt_at'), ('jobs', 'result_json'), "
                 "('jobs', 'metadata_json'), ('jobs', 'depends_on'), ('workers', 'agent_json'), "
                 "('jobs', 'halt_budget'), ('events', 'data_json'), ('schema_migrations', "
                 "'applied_at')) ORDER BY 1"),
            "events.data_json|NO|\n"
            "jobs.depends_on|NO|'[]'::jsonb\n"
            "jobs.halt_at|YES|\n"
            "jobs.halt_budget|NO|false\n"
            "jobs.metadata_json|NO|\n"
            "jobs.result_json|YES|\n"
            "schema_migrations.applied_at|NO|\n"
            "workers.agent_json|YES|");
}

// Rows in every table at version 7, as the store writes them (hierarchy rows included).
constexpr char kRowsAtV7[] = R"sql(
INSERT INTO jobs (id, workspace_id, name, status, depth, parent_job_id, depends_on,
  worker_count, retry_max_attempts, retry_initial_backoff_ms, retry_max_backoff_ms,
  retry_multiplier, retry_jitter, task_json, metadata_json, result_json, created_at,
  updated_at, stall_seconds, halt_mode, halt_reason, halt_by, halt_at, halt_workspace_wide,
  budget_usd, budget_tokens, budget_on_exhausted, usage_usd, usage_tokens, halt_budget)
VALUES
  ('j_root', 'ws1', 'root', 'RUNNING', 0, NULL, '[]', 1, 3, 100, 1000, 2.0, 0.1,
   '{"command": ["true"]}', '{"team": "a"}', NULL, '2026-01-01T00:00:00Z',
   '2026-01-01T00:00:01Z', 30, 'pause', 'budget spent', 'system', '2026-01-01T00:00:02Z',
   false, 1.5, 1000, 'pause', 0.25, 700, true),
  ('j_child', 'ws1', 'child', 'PENDING', 1, 'j_root', '[]', 1, 3, 100, 1000, 2.0, 0.1,
   '{"command": ["true"]}', '{}', NULL, '2026-01-01T00:00:03Z', '2026-01-01T00:00:03Z',
   0, 'terminate', 'maintenance', 'admin', '2026-01-01T00:00:04Z', true, NULL, NULL, '', 0,
   0, false),
  ('j_grand', 'ws1', 'grand', 'PENDING', 2, 'j_child', '["j_sib"]', 2, 3, 100, 1000, 2.0,
   0.1, '{"command": ["true"]}', '{}', NULL, '2026-01-01T00:00:05Z', '2026-01-01T00:00:05Z',
   0, '', '', '', NULL, false, NULL, NULL, '', 0, 0, false),
  ('j_sib', 'ws1', 'sib', 'SUCCEEDED', 1, 'j_root', '[]', 1, 3, 100, 1000, 2.0, 0.1,
   '{"command": ["true"]}', '{}', '{"ok": true}', '2026-01-01T00:00:06Z',
   '2026-01-01T00:00:07Z', 0, '', '', '', NULL, false, NULL, NULL, '', 0, 0, false),
  ('j_other', 'ws2', 'other', 'PENDING', 0, NULL, '["j_x", null, "j_x"]', 1, 3, 100, 1000,
   2.0, 0.1, '{"command": ["true"]}', '{}', NULL, '2026-01-01T00:00:08Z',
   '2026-01-01T00:00:08Z', 0, '', '', '', NULL, false, NULL, NULL, '', 0, 0, false);
INSERT INTO job_hierarchy (workspace_id, ancestor_id, descendant_id, distance) VALUES
  ('ws1', 'j_root', 'j_root', 0), ('ws1', 'j_child', 'j_child', 0),
  ('ws1', 'j_root', 'j_child', 1), ('ws1', 'j_grand', 'j_grand', 0),
  ('ws1', 'j_child', 'j_grand', 1), ('ws1', 'j_root', 'j_grand', 2),
  ('ws1', 'j_sib', 'j_sib', 0), ('ws1', 'j_root', 'j_sib', 1), ('ws2', 'j_other', 'j_other', 0);
INSERT INTO job_dependencies (workspace_id, job_id, depends_on_id) VALUES
  ('ws1', 'j_grand', 'j_sib'), ('ws2', 'j_other', 'j_x');
INSERT INTO workers (id, workspace_id, job_id, status, pid, pgid, attempt, metadata_json,
  log_path, created_at, updated_at, started_at, agent_json) VALUES
  ('w_1', 'ws1', 'j_root', 'RUNNING', 4242, 4242, 1, '{"k": "v"}', '/logs/w_1',
   '2026-01-01T00:00:01Z', '2026-01-01T00:00:02Z', '2026-01-01T00:00:02Z',
   '{"session": "s_1", "turns": 3}'),
  ('w_2', 'ws1', 'j_sib', 'SUCCEEDED', NULL, NULL, 0, '{}', '', '2026-01-01T00:00:06Z',
   '2026-01-01T00:00:07Z', NULL, NULL);
INSERT INTO state_transitions (worker_id, workspace_id, from_state, to_state, reason, ts) VALUES
  ('w_1', 'ws1', '', 'IDLE', 'CREATED', '2026-01-01T00:00:01Z'),
  ('w_1', 'ws1', 'IDLE', 'RUNNING', 'SPAWNED', '2026-01-01T00:00:02Z');
INSERT INTO events (workspace_id, type, job_id, worker_id, from_state, to_state, reason,
  data_json, created_at) VALUES
  ('ws1', 'worker.transition', 'j_root', 'w_1', 'IDLE', 'RUNNING', 'SPAWNED',
   '{"attempt": 1}', '2026-01-01T00:00:02Z'),
  ('ws1', 'job.transition', 'j_root', '', 'PENDING', 'RUNNING', 'WORKERS_STARTED', '{}',
   '2026-01-01T00:00:02Z'),
  ('ws1', 'quota.changed', '', '', '', '', '', '{"depth": 0, "max_workers": 4}',
   '2026-01-01T00:00:03Z'),
  ('ws1', 'job.halted', 'j_root', '', '', '', '', '{"mode": "pause"}', '2026-01-01T00:00:04Z'),
  ('ws1', 'quota.changed', '', '', '', '', '', '{}', '2026-01-01T00:00:05Z');
DELETE FROM events WHERE seq = 5;
INSERT INTO idempotency_keys (workspace_id, key, fingerprint, status, body, created_at,
  finished_at) VALUES
  ('ws1', 'k1', 'fp1', 201, '{"id": "j_root"}', '2026-01-01T00:00:00Z',
   '2026-01-01T00:00:01Z'),
  ('ws1', 'k2', 'fp2', 0, '', '2026-01-01T00:00:09Z', NULL);
INSERT INTO quotas (workspace_id, depth, max_workers, updated_at) VALUES
  ('ws1', 0, 4, '2026-01-01T00:00:03Z');
INSERT INTO resource_allocations (id, workspace_id, job_id, worker_id, depth, worker_count,
  allocated_at, released_at) VALUES
  ('a_1', 'ws1', 'j_root', 'w_1', 0, 1, '2026-01-01T00:00:02Z', NULL),
  ('a_2', 'ws1', 'j_sib', NULL, 1, 1, '2026-01-01T00:00:06Z', '2026-01-01T00:00:07Z');
INSERT INTO workspace_halts (workspace_id, mode, reason, halted_by, halted_at) VALUES
  ('ws2', 'pause', 'maintenance', 'admin', '2026-01-01T00:00:04Z');
)sql";

// The columns every version from 2 on has, per table that 0003..0007 keep.
constexpr char kJobRows[] =
    "SELECT id, workspace_id, name, status, depth, parent_job_id, depends_on, worker_count, "
    "retry_multiplier, task_json, metadata_json, result_json, created_at, updated_at "
    "FROM jobs ORDER BY id";
constexpr char kWorkerRows[] =
    "SELECT id, job_id, status, pid, attempt, metadata_json, log_path, started_at "
    "FROM workers ORDER BY id";
constexpr char kTransitionRows[] = "SELECT * FROM state_transitions ORDER BY id";
constexpr char kIdempotencyRows[] = "SELECT * FROM idempotency_keys ORDER BY key";
constexpr char kQuotaRows[] = "SELECT * FROM quotas ORDER BY depth";
constexpr char kAllocationRows[] = "SELECT * FROM resource_allocations ORDER BY id";
constexpr char kTypedEventRows[] =
    "SELECT seq, workspace_id, type, job_id, worker_id, from_state, to_state, reason, "
    "data_json, created_at FROM events ORDER BY seq";
constexpr char kHierarchyRows[] =
    "SELECT workspace_id, ancestor_id, descendant_id, distance FROM job_hierarchy "
    "ORDER BY ancestor_id, descendant_id";
constexpr char kDependencyRows[] =
    "SELECT workspace_id, job_id, depends_on_id FROM job_dependencies "
    "ORDER BY job_id, depends_on_id";

TEST_F(PgMigrationsTest, DownStepByStepAndUpAgainKeepsTheRowsOfTablesThatSurvive) {
  ASSERT_TRUE(MigratePgUp(*conn_, known_).ok());
  ASSERT_TRUE(conn_->ExecScript(kRowsAtV7).ok());
  const std::string jobs = Rows(*conn_, kJobRows);
  const std::string workers = Rows(*conn_, kWorkerRows);
  const std::string transitions = Rows(*conn_, kTransitionRows);
  const std::string idempotency = Rows(*conn_, kIdempotencyRows);
  const std::string quotas = Rows(*conn_, kQuotaRows);
  const std::string allocations = Rows(*conn_, kAllocationRows);
  const std::string events = Rows(*conn_, kTypedEventRows);
  const std::string hierarchy = Rows(*conn_, kHierarchyRows);
  const std::string dependencies = Rows(*conn_, kDependencyRows);
  ASSERT_EQ(Rows(*conn_, "SELECT count(*) FROM jobs"), "5");

  for (int version = 7; version >= 2; --version) {
    ASSERT_TRUE(MigratePgDown(*conn_, known_, 1).ok()) << "down to " << version;
    EXPECT_EQ(Rows(*conn_, "SELECT max(version) FROM schema_migrations"), std::to_string(version));
    EXPECT_EQ(Rows(*conn_, kJobRows), jobs) << version;
    EXPECT_EQ(Rows(*conn_, kWorkerRows), workers) << version;
    EXPECT_EQ(Rows(*conn_, kTransitionRows), transitions) << version;
    EXPECT_EQ(Rows(*conn_, kIdempotencyRows), idempotency) << version;
    EXPECT_EQ(Rows(*conn_, kQuotaRows), quotas) << version;
    EXPECT_EQ(Rows(*conn_, kAllocationRows), allocations) << version;
    EXPECT_EQ(Rows(*conn_, "SELECT count(*) FROM events"), "4") << version;
    if (version >= 3) {
      EXPECT_EQ(Rows(*conn_, kTypedEventRows), events) << version;
    }
  }
  EXPECT_FALSE(HasTable("job_hierarchy"));
  EXPECT_FALSE(HasTable("job_dependencies"));
  EXPECT_FALSE(HasTable("workspace_halts"));
  EXPECT_EQ(Rows(*conn_,
                 "SELECT count(*) FROM information_schema.columns WHERE table_name = 'jobs' AND "
                 "(column_name LIKE 'halt%' OR column_name LIKE 'budget%' OR column_name LIKE "
                 "'usage%' OR column_name = 'stall_seconds')"),
            "0");
  // At version 2 the events are back in their old form: transitions as *.state with from, to,
  // reason (and a worker's job_id) in data_json; other kinds with their subject.
  EXPECT_EQ(Rows(*conn_, "SELECT seq, kind, subject_id, data_json FROM events ORDER BY seq"),
            "1|worker.state|w_1|{\"to\": \"RUNNING\", \"from\": \"IDLE\", \"job_id\": "
            "\"j_root\", \"reason\": \"SPAWNED\", \"attempt\": 1}\n"
            "2|job.state|j_root|{\"to\": \"RUNNING\", \"from\": \"PENDING\", \"reason\": "
            "\"WORKERS_STARTED\"}\n"
            "3|quota.changed||{\"depth\": 0, \"max_workers\": 4}\n"
            "4|job.halted|j_root|{\"mode\": \"pause\"}");

  ASSERT_TRUE(MigratePgUp(*conn_, known_).ok());
  EXPECT_EQ(Applied(), kAllVersions);
  EXPECT_EQ(Rows(*conn_, kJobRows), jobs);
  EXPECT_EQ(Rows(*conn_, kWorkerRows), workers);
  EXPECT_EQ(Rows(*conn_, kTransitionRows), transitions);
  EXPECT_EQ(Rows(*conn_, kIdempotencyRows), idempotency);
  EXPECT_EQ(Rows(*conn_, kQuotaRows), quotas);
  EXPECT_EQ(Rows(*conn_, kAllocationRows), allocations);
  // Transitions and the kinds 0003 knew come back as they were; a later kind (job.halted) as
  // any unknown kind: its subject moved into data_json (as on SQLite).
  EXPECT_EQ(Rows(*conn_, kTypedEventRows + std::string(" LIMIT 3")),
            events.substr(0, events.find("\n4|")));
  EXPECT_EQ(Rows(*conn_,
                 "SELECT seq, type, job_id, worker_id, data_json FROM events "
                 "WHERE seq = 4"),
            "4|job.halted|||{\"mode\": \"pause\", \"subject_id\": \"j_root\"}");
  // The identity survived: a new event takes the next seq, never a deleted one.
  EXPECT_EQ(Rows(*conn_,
                 "INSERT INTO events (workspace_id, type, data_json, created_at) VALUES "
                 "('ws1', 'quota.changed', '{}', now()) RETURNING seq"),
            "6");
  // The columns 0004..0006 added are back with their defaults: halts and budgets forgotten.
  EXPECT_EQ(Rows(*conn_,
                 "SELECT DISTINCT stall_seconds, halt_mode, halt_at, halt_workspace_wide, "
                 "budget_usd, budget_tokens, usage_tokens, halt_budget FROM jobs"),
            "0||NULL|f|NULL|NULL|0|f");
  EXPECT_EQ(Rows(*conn_, "SELECT count(*) FROM workers WHERE agent_json IS NOT NULL"), "0");
  EXPECT_EQ(Rows(*conn_, "SELECT count(*) FROM workspace_halts"), "0");
  // 0007 filled the closure and the dependencies in from the jobs' rows.
  EXPECT_EQ(Rows(*conn_, kHierarchyRows),
            "ws1|j_child|j_child|0\nws1|j_child|j_grand|1\nws1|j_grand|j_grand|0\n"
            "ws2|j_other|j_other|0\nws1|j_root|j_child|1\nws1|j_root|j_grand|2\n"
            "ws1|j_root|j_root|0\nws1|j_root|j_sib|1\nws1|j_sib|j_sib|0");
  EXPECT_EQ(Rows(*conn_, kHierarchyRows), hierarchy);
  EXPECT_EQ(Rows(*conn_, kDependencyRows), "ws1|j_grand|j_sib\nws2|j_other|j_x");
  EXPECT_EQ(Rows(*conn_, kDependencyRows), dependencies);
}

TEST_F(PgMigrationsTest, AllTheWayDownAndUpAgainWithRowsInEveryTable) {
  ASSERT_TRUE(MigratePgUp(*conn_, known_).ok());
  ASSERT_TRUE(conn_->ExecScript(kRowsAtV7).ok());
  for (const char* table :
       {"jobs", "workers", "state_transitions", "events", "idempotency_keys", "quotas",
        "resource_allocations", "workspace_halts", "job_hierarchy", "job_dependencies"}) {
    EXPECT_NE(Rows(*conn_, std::string("SELECT count(*) FROM ") + table), "0") << table;
  }
  ASSERT_TRUE(MigratePgDown(*conn_, known_, 8).ok());
  EXPECT_EQ(Tables(), "schema_migrations");
  EXPECT_EQ(Applied(), "");
  EXPECT_EQ(AppliedCount(), 0);
  EXPECT_TRUE(LockFree());

  ASSERT_TRUE(MigratePgUp(*conn_, known_).ok());
  EXPECT_EQ(Applied(), kAllVersions);
  EXPECT_EQ(AppliedCount(), 8);
  EXPECT_EQ(Tables(),
            "events,idempotency_keys,job_dependencies,job_hierarchy,jobs,quotas,"
            "resource_allocations,schema_migrations,state_transitions,workers,workspace_halts");
  // The same rows go in again: the schema is whole.
  ASSERT_TRUE(conn_->ExecScript(kRowsAtV7).ok());
  EXPECT_EQ(Rows(*conn_, "SELECT count(*) FROM job_hierarchy"), "9");
}

TEST_F(PgMigrationsTest, TwoProcessesMigratingAnEmptyDatabaseAtOnceApplyEachStepOnce) {
  for (int round = 0; round < 3; ++round) {
    if (round > 0) {
      ASSERT_TRUE(MigratePgDown(*conn_, known_, 8).ok());
      ASSERT_TRUE(conn_->ExecScript("DROP TABLE schema_migrations").ok());
    }
    std::unique_ptr<PgConnection> a = Connect();
    std::unique_ptr<PgConnection> b = Connect();
    std::latch start(2);
    Status result_a;
    Status result_b;
    std::thread ta([&] {
      start.arrive_and_wait();
      result_a = MigratePgUp(*a, known_);
    });
    std::thread tb([&] {
      start.arrive_and_wait();
      result_b = MigratePgUp(*b, known_);
    });
    ta.join();
    tb.join();
    ASSERT_TRUE(result_a.ok()) << round << ": " << result_a.error().message;
    ASSERT_TRUE(result_b.ok()) << round << ": " << result_b.error().message;
    EXPECT_EQ(Applied(), kAllVersions) << round;
    EXPECT_EQ(Rows(*conn_, "SELECT count(*), count(DISTINCT version) FROM schema_migrations"),
              "8|8");
    EXPECT_TRUE(LockFree()) << round;
  }
}

TEST_F(PgMigrationsTest, UpWaitsForTheLockAndReadsWhatIsAppliedAfterTakingIt) {
  std::unique_ptr<PgConnection> holder = Connect();
  const std::string key = std::to_string(kPgMigrationLockKey);
  ASSERT_EQ(Rows(*holder, "SELECT pg_advisory_lock(" + key + ")"), "");
  std::atomic<bool> done{false};
  Status result;
  std::thread t([&] {
    result = MigratePgUp(*conn_, known_);
    done = true;
  });
  // Meanwhile the lock's holder migrates: the waiter must find that done, not redo it.
  ASSERT_TRUE(MigratePgUp(*holder, known_).ok());  // the same session: the lock stacks
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(done);
  ASSERT_EQ(Rows(*holder, "SELECT pg_advisory_unlock(" + key + ")"), "t");
  t.join();
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(Rows(*holder, "SELECT count(*) FROM schema_migrations"), "8");
}

TEST_F(PgMigrationsTest, NegativeStepsAreInvalidAndAnUnknownAppliedVersionIsInternal) {
  ASSERT_TRUE(MigratePgUp(*conn_, known_).ok());
  Status negative = MigratePgDown(*conn_, known_, -1);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().code, ErrorCode::kInvalidRequest);

  // A newer overseer applied version 9: this binary has no down script for it.
  ASSERT_TRUE(conn_
                  ->ExecScript("INSERT INTO schema_migrations VALUES (9, 'from_the_future', "
                               "'2026-02-01T00:00:00Z')")
                  .ok());
  Status down = MigratePgDown(*conn_, known_, 1);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, ErrorCode::kInternal);
  EXPECT_THAT(down.error().message, Not(HasSubstr("SELECT")));
  EXPECT_TRUE(LockFree());
  EXPECT_EQ(Rows(*conn_, "SELECT count(*) FROM schema_migrations"), "9");
  // Up leaves it alone; Describe lists it by its recorded name.
  ASSERT_TRUE(MigratePgUp(*conn_, known_).ok());
  Result<std::vector<MigrationInfo>> infos = DescribePgMigrations(*conn_, known_);
  ASSERT_TRUE(infos.ok());
  ASSERT_EQ(infos->size(), 9u);
  EXPECT_EQ(infos->back().version, 9);
  EXPECT_EQ(infos->back().name, "from_the_future");
  EXPECT_TRUE(infos->back().applied);
  EXPECT_EQ(infos->back().applied_at, 1769904000000);
}

TEST_F(PgMigrationsTest, FailingStepIsRolledBackUnrecordedAndReleasesTheLock) {
  std::vector<Migration> known = known_;
  known.push_back(Migration{9, "broken", "CREATE TABLE half_done (x bigint); SELECT 1 / 0;",
                            "DROP TABLE half_done;"});
  Status up = MigratePgUp(*conn_, known);
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.error().code, ErrorCode::kInternal);
  EXPECT_EQ(up.error().message, "database error");
  EXPECT_EQ(Applied(), kAllVersions);  // the steps before it stay applied
  EXPECT_FALSE(HasTable("half_done"));
  EXPECT_EQ(conn_->transaction_status(), PQTRANS_IDLE);
  EXPECT_TRUE(LockFree());

  // Inside a caller's transaction it refuses to run (it commits its own steps).
  ASSERT_TRUE(conn_->ExecScript("BEGIN").ok());
  Status nested = MigratePgDown(*conn_, known_, 1);
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.error().code, ErrorCode::kInternal);
  ASSERT_TRUE(conn_->ExecScript("ROLLBACK").ok());
  EXPECT_EQ(Applied(), kAllVersions);
}

TEST_F(PgMigrationsTest, UnreachableServerIsUnavailable) {
  std::unique_ptr<PgConnection> doomed = Connect();
  TerminateBackendAndWait(doomed->backend_pid());
  Status up = MigratePgUp(*doomed, known_);
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.error().code, ErrorCode::kUnavailable);
  Result<std::vector<MigrationInfo>> infos = DescribePgMigrations(*doomed, known_);
  ASSERT_FALSE(infos.ok());
  EXPECT_EQ(infos.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace overseer::store::pg
