// The Store conformance suite on PostgreSQL (each test in a fresh database of the binary's
// cluster), plus what only a server with several connections can show: two writers racing on
// one row, one idempotency key from two connections at once, a lost connection replaced, and
// the server stopped and started again.
#include "store/postgres/pg_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "core/types.h"
#include "unit/store/store_conformance.h"
#include "unit/store_pg/pg_test_env.h"

namespace overseer::store {
namespace {

using testing_support::BackendFactory;
using testing_support::StoreBackend;
using testing_support::StoreConformanceTest;
using Clock = std::chrono::steady_clock;

// A database of its own for one test, dropped (with any connection left to it) at the end.
class FreshDatabase {
 public:
  FreshDatabase() {
    static std::atomic<int> counter{0};
    name_ = "t" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    std::unique_ptr<pg::PgConnection> admin = pg::ConnectOrDie();
    Result<pg::PgResult> r = admin->Exec("CREATE DATABASE " + name_);
    EXPECT_TRUE(r.ok()) << r.error().message;
    url_ = pg::Cluster().UrlFor("overseer", "", name_);
  }
  ~FreshDatabase() {
    std::unique_ptr<pg::PgConnection> admin = pg::ConnectOrDie();
    Result<pg::PgResult> r = admin->Exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    EXPECT_TRUE(r.ok()) << r.error().message;
  }
  FreshDatabase(const FreshDatabase&) = delete;
  FreshDatabase& operator=(const FreshDatabase&) = delete;
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::string url_;
};

class PostgresBackend final : public StoreBackend {
 public:
  Result<std::unique_ptr<Store>> Open() override { return OpenPostgresStore(db_.url()); }
  bool Persistent() const override { return true; }
  Result<int64_t> CountRows(Store& store, const std::string& table) override {
    return PostgresCountRowsForTest(store, table);
  }

 private:
  FreshDatabase db_;
};

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformanceTest,
                         ::testing::Values(BackendFactory{
                             "Server", [] { return std::make_unique<PostgresBackend>(); }}),
                         testing_support::BackendName);

// A migrated store on a fresh database.
class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = OpenMigrated(); }

  std::unique_ptr<Store> OpenMigrated(PostgresOptions options = {}) {
    Result<std::unique_ptr<Store>> s = OpenPostgresStore(db_.url(), options);
    EXPECT_TRUE(s.ok()) << s.error().message;
    if (!s.ok()) return nullptr;
    Status st = (*s)->MigrateUp();
    EXPECT_TRUE(st.ok()) << st.error().message;
    return std::move(*s);
  }

  static core::Job MakeJob(const std::string& id) {
    core::Job j;
    j.id = id;
    j.workspace_id = "ws";
    j.name = "job " + id;
    j.status = core::JobState::kRunning;
    j.task_json = R"({"runtime":"command","command":["true"]})";
    j.metadata_json = "{}";
    j.created_at = 1700000000123;
    j.updated_at = 1700000000123;
    return j;
  }

  static core::Worker MakeWorker(const std::string& id, const std::string& job_id) {
    core::Worker w;
    w.id = id;
    w.workspace_id = "ws";
    w.job_id = job_id;
    w.status = core::WorkerState::kRunning;
    w.metadata_json = "{}";
    w.created_at = 1700000000123;
    w.updated_at = 1700000000123;
    return w;
  }

  FreshDatabase db_;
  std::unique_ptr<Store> store_;
};

TEST_F(PgStoreTest, MalformedUrlIsInvalidAndMasked) {
  Result<std::unique_ptr<Store>> s = OpenPostgresStore("postgresql://u:sekret@[::1/db");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(s.error().message.find("sekret"), std::string::npos) << s.error().message;
}

TEST_F(PgStoreTest, TwoWritersRacingOnOneWorkerOneWins) {
  ASSERT_NE(store_, nullptr);
  ChangeSet create;
  create.new_jobs.push_back(MakeJob("j1"));
  create.new_workers.push_back(MakeWorker("w1", "j1"));
  ASSERT_TRUE(store_->Apply(create).ok());

  // Many rounds of two threads, each on its own connection, moving w1 from the same status.
  std::unique_ptr<Store> other = OpenMigrated();
  ASSERT_NE(other, nullptr);
  core::WorkerState from = core::WorkerState::kRunning;
  for (int round = 0; round < 20; ++round) {
    const core::WorkerState to = from == core::WorkerState::kRunning ? core::WorkerState::kPaused
                                                                     : core::WorkerState::kRunning;
    core::Worker next = MakeWorker("w1", "j1");
    next.status = to;
    ChangeSet cs;
    cs.worker_updates.push_back(WorkerUpdate{next, from, core::Transition{}});
    Status a;
    Status b;
    std::thread ta([&] { a = store_->Apply(cs); });
    std::thread tb([&] { b = other->Apply(cs); });
    ta.join();
    tb.join();
    ASSERT_NE(a.ok(), b.ok()) << "round " << round;
    const Status& lost = a.ok() ? b : a;
    EXPECT_EQ(lost.error().code, ErrorCode::kConflict);
    from = to;
  }
  Result<std::vector<core::Transition>> ts = store_->ListTransitions("ws", "w1");
  ASSERT_TRUE(ts.ok());
  EXPECT_EQ(ts->size(), 21u);  // the creation row and one per round: no loser's row
}

TEST_F(PgStoreTest, OneIdempotencyKeyFromManyConnectionsAtOnceHasOneWinner) {
  ASSERT_NE(store_, nullptr);
  for (int round = 0; round < 10; ++round) {
    const std::string key = "key-" + std::to_string(round);
    constexpr int kThreads = 6;
    std::vector<std::unique_ptr<Store>> stores;
    for (int i = 0; i < kThreads; ++i) stores.push_back(OpenMigrated());
    std::vector<Result<IdempotencyRecord>> got(kThreads, MakeError(ErrorCode::kInternal, "unset"));
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] { got[i] = stores[i]->BeginIdempotent("ws", key, "fp", 1); });
    }
    for (std::thread& t : threads) t.join();
    int started = 0;
    int in_progress = 0;
    for (const auto& r : got) {
      ASSERT_TRUE(r.ok()) << r.error().message;
      if (r->outcome == IdempotencyOutcome::kStarted) ++started;
      if (r->outcome == IdempotencyOutcome::kInProgress) ++in_progress;
    }
    EXPECT_EQ(started, 1);
    EXPECT_EQ(in_progress, kThreads - 1);
  }
}

TEST_F(PgStoreTest, ConcurrentAllocationsAtOneDepthNeverExceedTheQuota) {
  ASSERT_NE(store_, nullptr);
  // 12 writers on their own connections (as 12 daemons would be) each take 1 of 5 slots at once,
  // three rounds; the database lets exactly the free ones through.
  constexpr int kWriters = 12;
  constexpr int kQuota = 5;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kWriters; ++i) stores.push_back(OpenMigrated());
  int held = 0;
  for (int round = 0; round < 3; ++round) {
    std::vector<Status> got(kWriters);
    std::vector<std::thread> threads;
    for (int i = 0; i < kWriters; ++i) {
      threads.emplace_back([&, i] {
        ChangeSet cs;
        cs.new_allocations = {
            core::Allocation{"a_" + std::to_string(round) + "_" + std::to_string(i), "ws", "j1", "",
                             2, 1, 1700000000000, 0}};
        cs.slot_limits = {SlotLimit{"ws", 2, kQuota}};
        got[i] = stores[i]->Apply(cs);
      });
    }
    for (std::thread& t : threads) t.join();
    int won = 0;
    for (const Status& st : got) {
      if (st.ok()) {
        ++won;
      } else {
        EXPECT_EQ(st.error().code, ErrorCode::kQuotaExceeded) << st.error().message;
      }
    }
    held += won;
    EXPECT_EQ(held, kQuota) << "round " << round;
    Result<std::vector<core::Allocation>> rows = store_->ListHeldAllocations();
    ASSERT_TRUE(rows.ok());
    EXPECT_EQ(static_cast<int>(rows->size()), kQuota);
    // Free two slots for the next round.
    ChangeSet release;
    for (int k = 0; k < 2; ++k) {
      release.released_allocations.push_back(
          AllocationRelease{(*rows)[static_cast<size_t>(k)].id, "ws", 1700000000001});
    }
    ASSERT_TRUE(store_->Apply(release).ok());
    held -= 2;
  }
}

TEST_F(PgStoreTest, AConnectionTerminatedByTheServerIsReplaced) {
  ASSERT_NE(store_, nullptr);
  ASSERT_TRUE(store_->Ping().ok());
  // The only backend of this store's database: terminate it.
  std::unique_ptr<pg::PgConnection> admin = pg::ConnectOrDie();
  Result<pg::PgResult> pids =
      admin->Exec("SELECT pid FROM pg_stat_activity WHERE datname = $1", db_.name());
  ASSERT_TRUE(pids.ok());
  ASSERT_GE(pids->rows(), 1);
  for (int i = 0; i < pids->rows(); ++i) {
    pg::TerminateBackendAndWait(static_cast<int>(*pids->Int64(i, 0)));
  }
  ChangeSet cs;
  cs.new_jobs.push_back(MakeJob("after"));
  ASSERT_TRUE(store_->Apply(cs).ok());
  EXPECT_TRUE(store_->GetJob("ws", "after").ok());
}

TEST_F(PgStoreTest, ServerStoppedAnswersUnavailableQuicklyAndRecoversWhenItIsBack) {
  ASSERT_NE(store_, nullptr);
  ASSERT_TRUE(store_->Ping().ok());
  // The test cluster runs with synchronous_commit off and stops with -m immediate: write what
  // was committed first, as a real server's commits are.
  ASSERT_TRUE(pg::ConnectOrDie()->Exec("CHECKPOINT").ok());
  ASSERT_TRUE(pg::Cluster().Stop().ok());
  const Clock::time_point start = Clock::now();
  Status ping = store_->Ping();
  ChangeSet cs;
  cs.new_jobs.push_back(MakeJob("during"));
  Status applied = store_->Apply(cs);
  const auto took = Clock::now() - start;
  ASSERT_TRUE(pg::Cluster().Restart().ok());
  ASSERT_FALSE(ping.ok());
  EXPECT_EQ(ping.error().code, ErrorCode::kUnavailable);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.error().code, ErrorCode::kUnavailable);
  EXPECT_LT(took, std::chrono::seconds(12));
  // Back: the same store works again without being reopened.
  Status back = store_->Ping();
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_TRUE(store_->Apply(cs).ok());
  EXPECT_TRUE(store_->GetJob("ws", "during").ok());
}

}  // namespace
}  // namespace overseer::store
