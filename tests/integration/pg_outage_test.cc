// PostgreSQL outages (issue #12, item 6), against the real daemon on a PostgreSQL server of the
// test's own (PgCluster, in-process, so the test can stop and restart it): while the server is
// down /readyz and API calls answer 503 UNAVAILABLE with Retry-After within a few seconds, the
// workers keep running, exits meanwhile are written once the server is back (a cancel of such a
// job answers 503 rather than waiting for them), and the daemon recovers by itself; a backend
// killed with pg_terminate_backend is replaced. PostgreSQL only: ctest registers the suite
// (PgOutage*) under the integration_pg label alone; elsewhere it skips.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "integration/db_reader.h"
#include "integration/fixture.h"
#include "integration/it_db.h"
#include "support/pg_cluster.h"

namespace overseer::it {
namespace {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using test_support::PgCluster;

// "Within a few seconds": the longest any request may take while the server is down.
constexpr auto kAnswerWithin = 5s;

class PgOutageTest : public DaemonTestBase {
 protected:
  Daemon* daemon() override { return daemon_.get(); }
  Daemon& d() { return *daemon_; }
  void SetUp() override {
    if (!OnPostgres()) GTEST_SKIP() << "PostgreSQL outages: run with OVERSEER_IT_DB=postgres";
    // Stop() is a crash of the server: what the daemon was told is committed must survive it.
    auto cluster = PgCluster::Start({.commits_survive_stop = true});
    ASSERT_TRUE(cluster) << cluster.error().message;
    cluster_ = std::move(*cluster);
    daemon_ = std::make_unique<Daemon>(DaemonOptions{.extra_args = {}, .db_url = cluster_->url()});
    ASSERT_TRUE(daemon_->Start());
    OpenApi(*daemon_);
  }
  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << "---- server log ----\n" << cluster_->LogTail();
    DaemonTestBase::TearDown();
    daemon_.reset();
    cluster_.reset();
  }

  // The request, and fails the test if it took longer than kAnswerWithin.
  Reply Timed(const std::string& what, const std::function<Reply()>& send) {
    const auto t0 = Clock::now();
    Reply r = send();
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    EXPECT_LE(took, kAnswerWithin) << what << " took " << took.count() << " ms";
    return r;
  }

  // Asserts the 503 of an outage: UNAVAILABLE, Retry-After, answered in time.
  void ExpectUnavailable(const std::string& what, const std::function<Reply()>& send) {
    Reply r = Timed(what, send);
    EXPECT_TRUE(IsError(r, 503, "UNAVAILABLE")) << what;
    EXPECT_FALSE(r.Header("Retry-After").empty()) << what << ": no Retry-After; " << Describe(r);
  }

  // Polls GET /readyz until it answers `status`.
  bool WaitReady(unsigned status, std::chrono::milliseconds deadline) {
    return WaitFor([&] { return api().Get("/readyz").status == status; }, deadline);
  }

  std::string Submit(const std::vector<std::string>& argv, const json::object& extra = {}) {
    Reply r = api().Post("/api/jobs", CommandJob(argv, extra));
    EXPECT_EQ(r.status, 201u) << Describe(r);
    return r.Str({"id"});
  }

  // The first worker of `job_id` once RUNNING: its id and pid.
  std::pair<std::string, pid_t> Running(const std::string& job_id) {
    const std::vector<std::string> ids = WorkerIds(api(), job_id);
    EXPECT_EQ(ids.size(), 1u);
    if (ids.empty()) return {"", 0};
    Reply w = WaitWorker(api(), ids[0], "RUNNING");
    EXPECT_EQ(w.Str({"status"}), "RUNNING") << Describe(w);
    return {ids[0], static_cast<pid_t>(w.Int({"pid"}))};
  }

  std::unique_ptr<PgCluster> cluster_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(PgOutageTest, ServerDownAnswers503WithRetryAfterWorkersRunAndTheDaemonRecovers) {
  ASSERT_TRUE(WaitReady(200, 5s));
  const std::string job = Submit({"sleep", "120"});
  const auto [wid, pid] = Running(job);
  ASSERT_GT(pid, 0);

  ASSERT_TRUE(cluster_->Stop());
  ExpectUnavailable("GET /readyz", [&] { return api().Get("/readyz"); });
  ExpectUnavailable("POST /api/jobs",
                    [&] { return api().Post("/api/jobs", CommandJob({"true"})); });
  ExpectUnavailable("GET /api/jobs", [&] { return api().Get("/api/jobs"); });
  // Asked again while still down: the same quick answer, not a hang on a dead connection.
  ExpectUnavailable("POST /api/jobs (again)",
                    [&] { return api().Post("/api/jobs", CommandJob({"true"})); });
  ExpectUnavailable("GET /readyz (again)", [&] { return api().Get("/readyz"); });

  // The daemon is alive and its worker runs on, not stopped.
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(ProcAlive(d().pid())) << "the daemon died during the outage";
  EXPECT_TRUE(ProcAlive(pid)) << "the worker died during the outage";
  EXPECT_NE(ProcState(pid), 'T') << "the worker was stopped during the outage";
  EXPECT_EQ(Timed("GET /healthz", [&] { return api().Get("/healthz"); }).status, 200u);

  ASSERT_TRUE(cluster_->Restart());
  EXPECT_TRUE(WaitReady(200, 30s)) << "/readyz never answered 200 after the server came back";
  // New work is accepted and runs; the old worker is still RUNNING under the same pid.
  Reply r = api().Post("/api/jobs", CommandJob({"true"}));
  ASSERT_EQ(r.status, 201u) << Describe(r);
  EXPECT_EQ(WaitJob(api(), r.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");
  EXPECT_EQ(api().Get("/api/jobs").status, 200u);
  Reply w = api().Get("/api/supervisor/workers/" + wid);
  EXPECT_EQ(w.Str({"status"}), "RUNNING") << Describe(w);
  EXPECT_EQ(w.Int({"pid"}), pid);
  EXPECT_TRUE(ProcAlive(pid));
  // And it still writes: cancel the old job.
  Reply c = api().Post("/api/jobs/" + job + "/cancel", "{}");
  EXPECT_EQ(c.status, 200u) << Describe(c);
  EXPECT_EQ(WaitJob(api(), job, "CANCELED").Str({"status"}), "CANCELED");
}

TEST_F(PgOutageTest, ARestartOfTheServerIsSurvived) {
  ASSERT_TRUE(WaitReady(200, 5s));
  ASSERT_EQ(api().Get("/api/jobs").status, 200u);  // the pool holds open connections now
  ASSERT_TRUE(cluster_->Stop());
  ASSERT_TRUE(cluster_->Restart());
  // Every pooled connection is dead: the daemon finds out and reconnects, in a few tries at most.
  EXPECT_TRUE(WaitReady(200, 10s));
  Reply r;
  EXPECT_TRUE(WaitFor(
      [&] {
        r = Timed("POST /api/jobs", [&] { return api().Post("/api/jobs", CommandJob({"true"})); });
        return r.status == 201;
      },
      10s))
      << Describe(r);
  EXPECT_EQ(WaitJob(api(), r.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");
}

TEST_F(PgOutageTest, ABackendKilledWithPgTerminateBackendIsReplaced) {
  // Open connections in the pool (a few calls, some concurrent).
  for (int i = 0; i < 3; ++i) {
    Reply r = api().Post("/api/jobs", CommandJob({"true"}));
    ASSERT_EQ(r.status, 201u) << Describe(r);
  }
  ASSERT_EQ(api().Get("/api/jobs").status, 200u);
  // Kill every backend of the daemon's database (waiting until each has gone).
  ASSERT_TRUE(
      cluster_->Sql("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                    "WHERE datname = 'overseer' AND pid <> pg_backend_pid() AND backend_type = "
                    "'client backend'"));
  // The very next calls work: a dead connection is dropped and replaced, not handed out.
  for (int i = 0; i < 3; ++i) {
    Reply r =
        Timed("POST /api/jobs", [&] { return api().Post("/api/jobs", CommandJob({"true"})); });
    EXPECT_EQ(r.status, 201u) << "call " << i << " after pg_terminate_backend: " << Describe(r);
    if (r.status == 201) {
      EXPECT_EQ(WaitJob(api(), r.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");
    }
  }
  EXPECT_EQ(api().Get("/api/jobs").status, 200u);
  EXPECT_EQ(api().Get("/readyz").status, 200u);
}

// Exits during the outage: kept (the daemon reaps the processes and cannot write), then
// written when the server is back, each worker's transitions in order, and in the database.
TEST_F(PgOutageTest, ACancelOfAJobWhoseWorkersEndWaitsForTheServerAnswers503AtOnce) {
  // The worker's end is recorded under its job's lock and waits for the server: a cancel of
  // that job must not wait with it.
  const std::string go = d().root_dir() + "/go-cancel";
  const std::string job = Submit(Sh("while [ ! -e " + go + " ]; do sleep 0.05; done; exit 0"));
  const auto [wid, pid] = Running(job);
  ASSERT_GT(pid, 0);

  ASSERT_TRUE(cluster_->Stop());
  std::ofstream(go) << "go\n";
  EXPECT_TRUE(WaitFor([&] { return !ProcAlive(pid); }, 10s));
  std::this_thread::sleep_for(500ms);  // the exit's commit is waiting for the server now
  ExpectUnavailable("POST /api/jobs/{id}/cancel",
                    [&] { return api().Post("/api/jobs/" + job + "/cancel", "{}"); });

  ASSERT_TRUE(cluster_->Restart());
  ASSERT_TRUE(WaitReady(200, 30s));
  // The exit was written; the cancel that was refused changed nothing.
  Reply done = WaitJob(api(), job, "COMPLETED", 30s);
  EXPECT_EQ(done.Str({"status"}), "COMPLETED") << Describe(done);
  EXPECT_TRUE(
      IsError(api().Post("/api/jobs/" + job + "/cancel", "{}"), 409, "INVALID_STATE_TRANSITION"));
}

TEST_F(PgOutageTest, ExitsDuringTheOutageAreWrittenInOrderWhenTheServerIsBack) {
  const std::string go = d().root_dir() + "/go";
  const std::string wait = "while [ ! -e " + go + " ]; do sleep 0.05; done; ";
  const std::string ok_job = Submit(Sh(wait + "exit 0"));
  const std::string failing_job =
      Submit(Sh(wait + "exit 3"), json::object{{"retry", json::object{{"max_attempts", 1}}}});
  const auto [ok_wid, ok_pid] = Running(ok_job);
  const auto [fail_wid, fail_pid] = Running(failing_job);
  ASSERT_GT(ok_pid, 0);
  ASSERT_GT(fail_pid, 0);

  ASSERT_TRUE(cluster_->Stop());
  std::ofstream(go) << "go\n";
  // Both exit while the server is down (the daemon reaps them).
  EXPECT_TRUE(WaitFor([&] { return !ProcAlive(ok_pid) && !ProcAlive(fail_pid); }, 10s));
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(ProcAlive(d().pid())) << "the daemon died during the outage";

  ASSERT_TRUE(cluster_->Restart());
  ASSERT_TRUE(WaitReady(200, 30s));
  Reply ok = WaitJob(api(), ok_job, "COMPLETED", 30s);
  EXPECT_EQ(ok.Str({"status"}), "COMPLETED") << Describe(ok);
  Reply failed = WaitJob(api(), failing_job, "FAILED", 30s);
  EXPECT_EQ(failed.Str({"status"}), "FAILED") << Describe(failed);
  Reply w = WaitWorker(api(), ok_wid, "COMPLETED");
  EXPECT_EQ(ToStates(w), (std::vector<std::string>{"IDLE", "RUNNING", "COMPLETED"})) << Describe(w);

  // And it is in the database (not only in the daemon's memory), in order.
  d().Stop();
  std::unique_ptr<DbReader> db = DbReader::Open(d().db());
  std::map<std::string, std::vector<std::string>> to;
  std::map<std::string, int64_t> last_ts;
  std::map<std::string, bool> ts_ordered;
  ASSERT_TRUE(db->Query("SELECT worker_id, to_state, " + db->Ms("ts") +
                            " FROM state_transitions WHERE workspace_id = $1 ORDER BY id",
                        ws(),
                        [&](const DbRow& row) {
                          const std::string w_id = row.Text(0);
                          to[w_id].push_back(row.Text(1));
                          if (last_ts.count(w_id) != 0 && row.Int(2) < last_ts[w_id]) {
                            ts_ordered[w_id] = false;
                          }
                          last_ts[w_id] = row.Int(2);
                        }))
      << db->error();
  EXPECT_EQ(to[ok_wid], (std::vector<std::string>{"IDLE", "RUNNING", "COMPLETED"}));
  EXPECT_EQ(to[fail_wid], (std::vector<std::string>{"IDLE", "RUNNING", "FAILED"}));
  EXPECT_TRUE(ts_ordered.empty()) << "transition times out of order";
  std::map<std::string, std::string> job_status;
  ASSERT_TRUE(db->Query("SELECT id, status FROM jobs WHERE workspace_id = $1", ws(),
                        [&](const DbRow& row) { job_status[row.Text(0)] = row.Text(1); }))
      << db->error();
  EXPECT_EQ(job_status[ok_job], "COMPLETED");
  EXPECT_EQ(job_status[failing_job], "FAILED");
}

}  // namespace
}  // namespace overseer::it
