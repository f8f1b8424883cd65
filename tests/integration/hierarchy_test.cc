// The job tree against the real daemon: nested reads, parents waiting for their children,
// cancel cascades that end every process below, a failed parent's children canceled, and
// the long-poll wait.
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;
using std::chrono::steady_clock;

class HierarchyTest : public SharedDaemonTest<HierarchyTest> {
 protected:
  // Submits `argv` (under `parent` when given); expects 201; the job id.
  std::string Submit(const std::vector<std::string>& argv, const std::string& parent = "") {
    json::object extra;
    if (!parent.empty()) extra["parent_job_id"] = parent;
    Reply r = api().Post("/api/jobs", CommandJob(argv, extra));
    EXPECT_EQ(r.status, 201u) << Describe(r);
    return r.Str({"id"});
  }
  // A worker script that runs until the file `flag` exists, then exits with `code`.
  std::vector<std::string> UntilFlag(const std::string& flag, int code) {
    return Sh("while [ ! -e " + flag + " ]; do sleep 0.02; done; exit " + std::to_string(code));
  }
  std::string Flag(const std::string& name) {
    return d().root_dir() + "/" + ws() + "-" + name + ".flag";
  }
  static void Touch(const std::string& path) { std::ofstream(path) << "go\n"; }
  std::string FirstWorker(const std::string& job_id) {
    std::vector<std::string> ids = WorkerIds(api(), job_id);
    return ids.empty() ? std::string() : ids[0];
  }
  pid_t RunningPid(const std::string& job_id) {
    Reply w = WaitWorker(api(), FirstWorker(job_id), "RUNNING");
    EXPECT_EQ(w.Str({"status"}), "RUNNING") << Describe(w);
    return static_cast<pid_t>(w.Int({"pid"}));
  }
};

TEST_F(HierarchyTest, TreeNestsChildrenAndGrandchildren) {
  const std::string root = Submit({"sleep", "60"});
  const std::string a = Submit({"sleep", "60"}, root);
  const std::string b = Submit({"sleep", "60"}, root);
  const std::string a1 = Submit({"sleep", "60"}, a);
  Reply t = api().Get("/api/jobs/" + root + "/tree");
  ASSERT_EQ(t.status, 200u) << Describe(t);
  EXPECT_EQ(t.Str({"id"}), root);
  EXPECT_EQ(t.At({"truncated"}), json::value(false)) << t.body;
  const json::array& kids = t.At({"children"}).as_array();
  ASSERT_EQ(kids.size(), 2u) << t.body;
  EXPECT_EQ(kids[0].at("id"), json::value(a < b ? a : b));
  EXPECT_EQ(kids[1].at("id"), json::value(a < b ? b : a));
  const json::value& node_a = kids[0].at("id") == json::value(a) ? kids[0] : kids[1];
  const json::array& grand = node_a.at("children").as_array();
  ASSERT_EQ(grand.size(), 1u) << t.body;
  EXPECT_EQ(grand[0].at("id"), json::value(a1));
  EXPECT_EQ(grand[0].at("depth"), 2);
  EXPECT_TRUE(grand[0].at("children").as_array().empty());
  // A subtree from the middle.
  Reply sub = api().Get("/api/jobs/" + a + "/tree");
  ASSERT_EQ(sub.status, 200u) << Describe(sub);
  EXPECT_EQ(sub.At({"children"}).as_array().size(), 1u) << sub.body;
  // Another workspace sees nothing of it.
  Api other(d().url(), d().Token(ws() + "-other"));
  EXPECT_TRUE(IsError(other.Get("/api/jobs/" + root + "/tree"), 404, "NOT_FOUND"));
  EXPECT_TRUE(IsError(api().Get("/api/jobs/j_nosuchjob/tree"), 404, "NOT_FOUND"));
  EXPECT_EQ(api().Post("/api/jobs/" + root + "/cancel", "{}").status, 200u);
}

TEST_F(HierarchyTest, AParentCompletesOnlyAfterItsLastChildEnds) {
  const std::string go = Flag("parent");
  const std::string parent = Submit(UntilFlag(go, 0));
  const std::string child_flag = Flag("child");
  const std::string child = Submit(UntilFlag(child_flag, 0), parent);
  RunningPid(child);
  Touch(go);
  ASSERT_EQ(WaitWorker(api(), FirstWorker(parent), "COMPLETED").Str({"status"}), "COMPLETED");
  // Its own work is done, its child still runs: the parent stays RUNNING.
  Reply p = api().Get("/api/jobs/" + parent);
  EXPECT_EQ(p.Str({"status"}), "RUNNING") << p.body;
  EXPECT_EQ(api().Get("/api/jobs/" + parent + "/wait?timeout_seconds=1").Str({"status"}),
            "RUNNING");
  Touch(child_flag);
  Reply done = WaitJob(api(), parent, "COMPLETED");
  EXPECT_EQ(done.Str({"status"}), "COMPLETED") << done.body;
  EXPECT_EQ(api().Get("/api/jobs/" + child).Str({"status"}), "COMPLETED");
  // A child's failure does not fail the parent.
  const std::string go2 = Flag("parent2");
  const std::string parent2 = Submit(UntilFlag(go2, 0));
  const std::string failing_flag = Flag("failing");
  const std::string failing = Submit(UntilFlag(failing_flag, 7), parent2);
  RunningPid(failing);
  Touch(go2);
  ASSERT_EQ(WaitWorker(api(), FirstWorker(parent2), "COMPLETED").Str({"status"}), "COMPLETED");
  Touch(failing_flag);
  EXPECT_EQ(WaitJob(api(), failing, "FAILED").Str({"status"}), "FAILED");
  Reply p2 = WaitJob(api(), parent2, "COMPLETED");
  EXPECT_EQ(p2.Str({"status"}), "COMPLETED") << p2.body;
  EXPECT_EQ(p2.Str({"status_reason"}), "CHILDREN_ENDED") << p2.body;
}

TEST_F(HierarchyTest, CancelCascadesToEveryDescendantAndEndsTheirProcesses) {
  const std::string root = Submit({"sleep", "60"});
  const std::string child = Submit({"sleep", "60"}, root);
  const std::string grandchild = Submit(Sh("trap '' TERM; sleep 60"), child);
  const pid_t pids[] = {RunningPid(root), RunningPid(child), RunningPid(grandchild)};

  Reply c = api().Post("/api/jobs/" + root + "/cancel", R"({"grace_seconds":1})");
  ASSERT_EQ(c.status, 200u) << Describe(c);
  EXPECT_EQ(c.Str({"status"}), "CANCELED");
  EXPECT_EQ(c.Str({"status_reason"}), "CANCEL_REQUESTED");
  EXPECT_FALSE(c.At({"completed_at"}).is_null()) << c.body;
  // The answer comes once every process below is gone (SIGKILL after the grace for the one
  // that ignores SIGTERM).
  for (pid_t pid : pids) EXPECT_FALSE(ProcAlive(pid)) << "pid " << pid << " outlived the cancel";
  for (const std::string& id : {child, grandchild}) {
    Reply j = api().Get("/api/jobs/" + id);
    EXPECT_EQ(j.Str({"status"}), "CANCELED") << j.body;
    EXPECT_EQ(j.Str({"status_reason"}), "PARENT_CANCELED") << j.body;
  }
  for (const std::string& id : {root, child, grandchild}) {
    Reply w = api().Get("/api/supervisor/workers/" + FirstWorker(id));
    EXPECT_EQ(w.Str({"status"}), "TERMINATED") << w.body;
    EXPECT_EQ(w.Str({"status_reason"}), "JOB_CANCELED") << w.body;
  }
  // Once canceled: a second cancel and a new child are refused, naming the state.
  Reply again = api().Post("/api/jobs/" + root + "/cancel", "");
  EXPECT_TRUE(IsError(again, 409, "INVALID_STATE_TRANSITION"));
  EXPECT_EQ(again.Str({"error", "details", "current_state"}), "CANCELED") << again.body;
  EXPECT_EQ(again.Str({"error", "details", "requested_state"}), "CANCELED") << again.body;
  Reply late = api().Post("/api/jobs", CommandJob({"true"}, {{"parent_job_id", root}}));
  EXPECT_TRUE(IsError(late, 409, "INVALID_STATE_TRANSITION"));
  EXPECT_EQ(late.Str({"error", "details", "field"}), "parent_job_id") << late.body;
}

TEST_F(HierarchyTest, CancelOfAMiddleJobLeavesItsParentRunningAndLetsItComplete) {
  const std::string go = Flag("root");
  const std::string root = Submit(UntilFlag(go, 0));
  const std::string child = Submit({"sleep", "60"}, root);
  RunningPid(child);
  Touch(go);
  ASSERT_EQ(WaitWorker(api(), FirstWorker(root), "COMPLETED").Str({"status"}), "COMPLETED");
  EXPECT_EQ(api().Get("/api/jobs/" + root).Str({"status"}), "RUNNING");
  Reply c = api().Post("/api/jobs/" + child + "/cancel", R"({"wait":false,"grace_seconds":0})");
  ASSERT_EQ(c.status, 202u) << Describe(c);
  EXPECT_EQ(c.Str({"status"}), "CANCELED");
  EXPECT_EQ(WaitJob(api(), root, "COMPLETED").Str({"status"}), "COMPLETED");
}

TEST_F(HierarchyTest, AFailedParentCancelsItsChildren) {
  const std::string go = Flag("fail");
  const std::string parent = Submit(UntilFlag(go, 3));
  const std::string child = Submit({"sleep", "60"}, parent);
  const pid_t child_pid = RunningPid(child);
  Touch(go);
  Reply p = WaitJob(api(), parent, "FAILED");
  EXPECT_EQ(p.Str({"status"}), "FAILED") << p.body;
  Reply c = WaitJob(api(), child, "CANCELED");
  EXPECT_EQ(c.Str({"status"}), "CANCELED") << c.body;
  EXPECT_EQ(c.Str({"status_reason"}), "PARENT_FAILED") << c.body;
  EXPECT_EQ(WaitWorker(api(), FirstWorker(child), "TERMINATED").Str({"status"}), "TERMINATED");
  EXPECT_TRUE(WaitFor([&] { return !ProcAlive(child_pid); }));
}

TEST_F(HierarchyTest, WaitAnswersWhenTheJobEndsOrWhenItsTimeoutPasses) {
  const std::string go = Flag("wait");
  const std::string job = Submit(UntilFlag(go, 0));
  RunningPid(job);
  auto t0 = steady_clock::now();
  Reply early = api().Get("/api/jobs/" + job + "/wait?timeout_seconds=1");
  const auto held = steady_clock::now() - t0;
  ASSERT_EQ(early.status, 200u) << Describe(early);
  EXPECT_EQ(early.Str({"status"}), "RUNNING");
  EXPECT_GE(held, 900ms);
  // A wait in progress is answered as soon as the job ends, long before its timeout.
  std::thread toucher([&] {
    std::this_thread::sleep_for(300ms);
    Touch(go);
  });
  t0 = steady_clock::now();
  Reply done = api().Get("/api/jobs/" + job + "/wait?timeout_seconds=60");
  const auto waited = steady_clock::now() - t0;
  toucher.join();
  ASSERT_EQ(done.status, 200u) << Describe(done);
  EXPECT_EQ(done.Str({"status"}), "COMPLETED") << done.body;
  EXPECT_LT(waited, 20s);
  // A terminal job answers at once; bad input is refused.
  EXPECT_EQ(api().Get("/api/jobs/" + job + "/wait").Str({"status"}), "COMPLETED");
  Reply bad = api().Get("/api/jobs/" + job + "/wait?timeout_seconds=301");
  EXPECT_TRUE(IsError(bad, 400, "INVALID_REQUEST"));
  EXPECT_EQ(bad.Str({"error", "details", "field"}), "timeout_seconds") << bad.body;
  EXPECT_TRUE(IsError(api().Get("/api/jobs/" + job + "/wait?x=1"), 400, "INVALID_REQUEST"));
  EXPECT_TRUE(IsError(api().Get("/api/jobs/j_nosuchjob/wait"), 404, "NOT_FOUND"));
  EXPECT_TRUE(IsError(api().Post("/api/jobs/j_nosuchjob/cancel", "{}"), 404, "NOT_FOUND"));
  Reply opts = api().Post("/api/jobs/" + job + "/cancel", R"({"grace_seconds":-1})");
  EXPECT_TRUE(IsError(opts, 400, "INVALID_REQUEST"));
}

TEST_F(HierarchyTest, ADependentJobStartsOnceItsDependenciesCompleted) {
  const std::string go = Flag("dep");
  const std::string a = Submit(UntilFlag(go, 0));
  const std::string done = Submit({"true"});
  ASSERT_EQ(WaitJob(api(), done, "COMPLETED").Str({"status"}), "COMPLETED");
  Reply b = api().Post("/api/jobs", CommandJob({"true"}, {{"depends_on", json::array{a, done}}}));
  ASSERT_EQ(b.status, 201u) << Describe(b);
  EXPECT_EQ(b.Str({"status"}), "PENDING");
  EXPECT_EQ(b.Str({"status_reason"}), "WAITING_FOR_DEPENDENCIES");
  EXPECT_EQ(b.At({"depends_on"}), (json::array{json::value(a), json::value(done)})) << b.body;
  const std::string bid = b.Str({"id"});
  EXPECT_EQ(api().Get("/api/supervisor/workers/" + FirstWorker(bid)).Str({"status"}), "IDLE");
  Touch(go);
  EXPECT_EQ(WaitJob(api(), a, "COMPLETED").Str({"status"}), "COMPLETED");
  Reply after = WaitJob(api(), bid, "COMPLETED");
  EXPECT_EQ(after.Str({"status"}), "COMPLETED") << after.body;
  // A dependency that already completed holds nothing up.
  Reply c = api().Post("/api/jobs", CommandJob({"true"}, {{"depends_on", json::array{done}}}));
  ASSERT_EQ(c.status, 201u) << Describe(c);
  EXPECT_EQ(WaitJob(api(), c.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");
}

TEST_F(HierarchyTest, AFailedDependencyCancelsItsDependentsInTurn) {
  const std::string go = Flag("depfail");
  const std::string a = Submit(UntilFlag(go, 4));
  Reply b = api().Post("/api/jobs", CommandJob({"true"}, {{"depends_on", json::array{a}}}));
  ASSERT_EQ(b.status, 201u) << Describe(b);
  Reply c =
      api().Post("/api/jobs", CommandJob({"true"}, {{"depends_on", json::array{b.Str({"id"})}}}));
  ASSERT_EQ(c.status, 201u) << Describe(c);
  Touch(go);
  EXPECT_EQ(WaitJob(api(), a, "FAILED").Str({"status"}), "FAILED");
  for (const std::string& id : {b.Str({"id"}), c.Str({"id"})}) {
    Reply j = WaitJob(api(), id, "CANCELED");
    EXPECT_EQ(j.Str({"status"}), "CANCELED") << j.body;
    EXPECT_EQ(j.Str({"status_reason"}), "DEPENDENCY_FAILED") << j.body;
    // The job is canceled first, its IDLE worker ended right after (not in the same write).
    EXPECT_EQ(WaitWorker(api(), FirstWorker(id), "TERMINATED").Str({"status"}), "TERMINATED");
  }
  // On a job that already failed: canceled at once.
  Reply late = api().Post("/api/jobs", CommandJob({"true"}, {{"depends_on", json::array{a}}}));
  ASSERT_EQ(late.status, 201u) << Describe(late);
  EXPECT_EQ(late.Str({"status"}), "CANCELED") << late.body;
  EXPECT_EQ(late.Str({"status_reason"}), "DEPENDENCY_FAILED") << late.body;
  // Bad dependencies are named.
  Reply unknown =
      api().Post("/api/jobs", CommandJob({"true"}, {{"depends_on", json::array{"j_nosuchjob"}}}));
  EXPECT_TRUE(IsError(unknown, 400, "INVALID_REQUEST"));
  EXPECT_EQ(unknown.Str({"error", "details", "field"}), "depends_on") << unknown.body;
  Reply twice = api().Post("/api/jobs", CommandJob({"true"}, {{"depends_on", json::array{a, a}}}));
  EXPECT_TRUE(IsError(twice, 400, "INVALID_REQUEST"));
  Api other(d().url(), d().Token(ws() + "-other"));
  Reply foreign = other.Post("/api/jobs", CommandJob({"true"}, {{"depends_on", json::array{a}}}));
  EXPECT_TRUE(IsError(foreign, 400, "INVALID_REQUEST"));
}

// A daemon of its own: a parent waiting for its child across a kill -9 and restart.
class HierarchyRestartTest : public OwnDaemonTest {};

TEST_F(HierarchyRestartTest, AJobWaitingForADependencyIsResolvedAfterARestart) {
  Reply a = api().Post("/api/jobs", CommandJob({"sleep", "60"}));
  ASSERT_EQ(a.status, 201u) << Describe(a);
  Reply b =
      api().Post("/api/jobs", CommandJob({"true"}, {{"depends_on", json::array{a.Str({"id"})}}}));
  ASSERT_EQ(b.status, 201u) << Describe(b);
  EXPECT_EQ(b.Str({"status"}), "PENDING");
  d().Kill9();
  ASSERT_TRUE(d().Restart());
  Reconnect();
  // a's process died with the daemon: a FAILED, so b can never run.
  EXPECT_EQ(WaitJob(api(), a.Str({"id"}), "FAILED").Str({"status"}), "FAILED");
  Reply after = WaitJob(api(), b.Str({"id"}), "CANCELED");
  EXPECT_EQ(after.Str({"status"}), "CANCELED") << after.body;
  EXPECT_EQ(after.Str({"status_reason"}), "DEPENDENCY_FAILED") << after.body;
}

TEST_F(HierarchyRestartTest, AParentStillWaitingForAChildIsNotLeftStuckByARestart) {
  const std::string go = d().root_dir() + "/parent.flag";
  Reply parent =
      api().Post("/api/jobs", CommandJob(Sh("while [ ! -e " + go + " ]; do sleep 0.02; done"), {}));
  ASSERT_EQ(parent.status, 201u) << Describe(parent);
  const std::string pid = parent.Str({"id"});
  Reply child = api().Post("/api/jobs", CommandJob({"sleep", "60"}, {{"parent_job_id", pid}}));
  ASSERT_EQ(child.status, 201u) << Describe(child);
  std::ofstream(go) << "go\n";
  ASSERT_EQ(WaitWorker(api(), WorkerIds(api(), pid)[0], "COMPLETED").Str({"status"}), "COMPLETED");
  EXPECT_EQ(api().Get("/api/jobs/" + pid).Str({"status"}), "RUNNING");
  d().Kill9();
  ASSERT_TRUE(d().Restart());
  Reconnect();
  // The child's worker died with the daemon: it fails, and then the parent completes.
  EXPECT_EQ(WaitJob(api(), child.Str({"id"}), "FAILED").Str({"status"}), "FAILED");
  Reply p = WaitJob(api(), pid, "COMPLETED");
  EXPECT_EQ(p.Str({"status"}), "COMPLETED") << p.body;
}

}  // namespace
}  // namespace overseer::it
