// Daemon restarts: a killed daemon's workers are reconciled on the next start (records FAILED
// SUPERVISOR_RESTART, processes ended); a graceful stop ends the workers first.
#include <sys/wait.h>

#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;

class RestartTest : public OwnDaemonTest {
 protected:
  void StartTree(std::string* job_id, std::string* wid, pid_t* pid) {
    Reply r = api().Post("/api/jobs", CommandJob(Sh("setsid sleep 302 & sleep 60")));
    ASSERT_EQ(r.status, 201u) << Describe(r);
    *job_id = r.Str({"id"});
    std::vector<std::string> ids = WorkerIds(api(), *job_id);
    ASSERT_EQ(ids.size(), 1u);
    *wid = ids[0];
    Reply w = WaitWorker(api(), *wid, "RUNNING");
    ASSERT_EQ(w.Str({"status"}), "RUNNING") << Describe(w);
    *pid = static_cast<pid_t>(w.Int({"pid"}));
    ASSERT_GT(*pid, 0);
    ASSERT_TRUE(WaitFor([&] { return Daemon::WorkerTree(*wid).size() >= 2; }))
        << "the worker's tree never held its two sleeps";
  }
};

TEST_F(RestartTest, AfterKill9TheNextStartFailsOrphanedWorkersAndEndsTheirProcesses) {
  std::string job_id, wid;
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(StartTree(&job_id, &wid, &pid));
  Reply done = api().Post("/api/jobs", CommandJob({"true"}));
  ASSERT_EQ(done.status, 201u);
  ASSERT_EQ(WaitJob(api(), done.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");
  const std::vector<pid_t> tree = Daemon::WorkerTree(wid);

  d().Kill9();
  // The daemon is gone; its worker is not.
  EXPECT_TRUE(ProcAlive(pid));
  for (pid_t p : tree) EXPECT_TRUE(ProcAlive(p)) << p;

  ASSERT_TRUE(d().Restart());
  Reconnect();
  // Recovery runs before the daemon listens: the old tree is already gone.
  EXPECT_FALSE(ProcAlive(pid));
  EXPECT_TRUE(Daemon::WorkerTree(wid).empty());
  Reply w = api().Get("/api/supervisor/workers/" + wid);
  ASSERT_EQ(w.status, 200u) << Describe(w);
  EXPECT_EQ(w.Str({"status"}), "FAILED");
  EXPECT_EQ(w.Str({"status_reason"}), "SUPERVISOR_RESTART");
  Reply j = WaitJob(api(), job_id, "FAILED");
  EXPECT_EQ(j.Str({"status"}), "FAILED") << Describe(j);
  // Finished work is untouched.
  EXPECT_EQ(api().Get("/api/jobs/" + done.Str({"id"})).Str({"status"}), "COMPLETED");
  // And the daemon works as before.
  Reply again = api().Post("/api/jobs", CommandJob({"true"}));
  ASSERT_EQ(again.status, 201u) << Describe(again);
  EXPECT_EQ(WaitJob(api(), again.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");
}

TEST_F(RestartTest, GracefulStopEndsWorkersAndRecordsThem) {
  std::string job_id, wid;
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(StartTree(&job_id, &wid, &pid));
  const std::vector<pid_t> tree = Daemon::WorkerTree(wid);

  const int st = d().Stop();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "wait status " << st;
  for (pid_t p : tree) EXPECT_FALSE(ProcAlive(p)) << p << " " << ProcCmdline(p);
  EXPECT_TRUE(Daemon::WorkerTree(wid).empty());

  ASSERT_TRUE(d().Restart());
  Reconnect();
  Reply w = api().Get("/api/supervisor/workers/" + wid);
  ASSERT_EQ(w.status, 200u) << Describe(w);
  EXPECT_EQ(w.Str({"status"}), "TERMINATED");
  EXPECT_EQ(w.Str({"status_reason"}), "SUPERVISOR_SHUTDOWN");
  Reply j = api().Get("/api/jobs/" + job_id);
  EXPECT_EQ(j.Str({"status"}), "FAILED") << Describe(j);
  const int st2 = d().Stop();
  EXPECT_TRUE(WIFEXITED(st2) && WEXITSTATUS(st2) == 0) << "wait status " << st2;
}

}  // namespace
}  // namespace overseer::it
