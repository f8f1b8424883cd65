// Worker and job lifecycle against the real daemon and real processes: spawn, pause/resume
// of the whole tree, terminate (also of descendants that left the group), exits, timeouts,
// retries, logs, environment, outside signals, worker tokens; and no zombies left behind.
#include <signal.h>

#include <algorithm>
#include <chrono>

#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;

class LifecycleTest : public SharedDaemonTest<LifecycleTest> {
 protected:
  void TearDown() override {
    // No process the daemon has reaped may linger as a zombie.
    if (shared_ && shared_->running()) {
      EXPECT_TRUE(WaitFor([&] { return shared_->ZombieChildren().empty(); }, 5s))
          << "zombie children of the daemon: " << shared_->ZombieChildren().size();
    }
    SharedDaemonTest::TearDown();
  }

  // Submits `job`; expects 201 and returns the job id and its first worker id.
  void Submit(const json::object& job, std::string* job_id, std::string* worker_id) {
    Reply r = api().Post("/api/jobs", job);
    ASSERT_EQ(r.status, 201u) << Describe(r);
    *job_id = r.Str({"id"});
    ASSERT_EQ(job_id->rfind("j_", 0), 0u) << Describe(r);
    EXPECT_EQ(r.Header("Location"), "/api/jobs/" + *job_id);
    if (worker_id != nullptr) {
      std::vector<std::string> ids = WorkerIds(api(), *job_id);
      ASSERT_FALSE(ids.empty()) << "job " << *job_id << " has no workers";
      *worker_id = ids[0];
    }
  }

  // Submits `argv` and waits until its worker is RUNNING; returns ids and pid.
  void StartRunning(const std::vector<std::string>& argv, std::string* job_id,
                    std::string* worker_id, pid_t* pid, const json::object& extra = {}) {
    ASSERT_NO_FATAL_FAILURE(Submit(CommandJob(argv, extra), job_id, worker_id));
    Reply w = WaitWorker(api(), *worker_id, "RUNNING");
    ASSERT_EQ(w.Str({"status"}), "RUNNING") << Describe(w);
    *pid = static_cast<pid_t>(w.Int({"pid"}));
    ASSERT_GT(*pid, 0) << Describe(w);
  }

  Reply Terminate(const std::string& worker_id, const std::string& body = "{}") {
    return api().Post("/api/supervisor/workers/" + worker_id + "/terminate", body);
  }

  // Waits until the worker's tree holds a process whose argv is each of `cmdlines`.
  static ::testing::AssertionResult TreeHas(const std::string& worker_id,
                                            const std::vector<std::string>& cmdlines) {
    std::vector<std::string> seen;
    const bool ok = WaitFor([&] {
      seen.clear();
      for (pid_t p : Daemon::WorkerTree(worker_id)) seen.push_back(ProcCmdline(p));
      return std::all_of(cmdlines.begin(), cmdlines.end(), [&](const std::string& c) {
        return std::find(seen.begin(), seen.end(), c) != seen.end();
      });
    });
    if (ok) return ::testing::AssertionSuccess();
    auto f = ::testing::AssertionFailure() << "worker tree of " << worker_id << " holds:";
    for (const auto& s : seen) f << " [" << s << "]";
    return f;
  }

  static std::string States(const std::vector<pid_t>& pids) {
    std::string out;
    for (pid_t p : pids)
      out += std::to_string(p) + ":" + ProcState(p) + " " + ProcCmdline(p) + "; ";
    return out;
  }
};

// The tree: the main shell, a setsid'd child, a double-forked setsid'd grandchild, a plain child.
const char kTreeScript[] = "setsid sleep 300 & (setsid sleep 301 &) ; sleep 60";

TEST_F(LifecycleTest, SubmittedSleepRunsWithAPid) {
  Reply r = api().Post("/api/jobs", CommandJob({"sleep", "60"}));
  ASSERT_EQ(r.status, 201u) << Describe(r);
  EXPECT_EQ(r.Str({"workspace_id"}), ws());
  EXPECT_EQ(r.Int({"depth"}), 0);
  EXPECT_TRUE(r.At({"parent_job_id"}).is_null());
  EXPECT_EQ(r.Int({"worker_count"}), 1);
  const std::string job_id = r.Str({"id"});
  std::vector<std::string> ids = WorkerIds(api(), job_id);
  ASSERT_EQ(ids.size(), 1u);
  Reply w = WaitWorker(api(), ids[0], "RUNNING");
  ASSERT_EQ(w.Str({"status"}), "RUNNING") << Describe(w);
  EXPECT_EQ(w.Str({"job_id"}), job_id);
  EXPECT_EQ(w.Int({"attempt"}), 1);
  const auto pid = static_cast<pid_t>(w.Int({"pid"}));
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(ProcAlive(pid));
  // The pid is the command itself (once exec'd), not a wrapper around it.
  EXPECT_TRUE(WaitFor([&] { return ProcCmdline(pid) == "sleep 60"; })) << ProcCmdline(pid);
  EXPECT_EQ(WaitJob(api(), job_id, "RUNNING").Str({"status"}), "RUNNING");

  Reply t = Terminate(ids[0]);
  ASSERT_EQ(t.status, 200u) << Describe(t);
  EXPECT_EQ(t.Str({"status"}), "TERMINATED");
  EXPECT_FALSE(ProcAlive(pid));
}

TEST_F(LifecycleTest, PauseStopsTheWholeTreeAndResumeContinuesIt) {
  std::string job_id, wid;
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(StartRunning(Sh(kTreeScript), &job_id, &wid, &pid));
  ASSERT_TRUE(TreeHas(wid, {"sleep 300", "sleep 301", "sleep 60"}));
  const std::vector<pid_t> tree = Daemon::WorkerTree(wid);

  Reply p = api().Post("/api/supervisor/workers/" + wid + "/pause", "");
  ASSERT_EQ(p.status, 200u) << Describe(p);
  EXPECT_EQ(p.Str({"status"}), "PAUSED");
  EXPECT_TRUE(WaitFor([&] {
    return std::all_of(tree.begin(), tree.end(), [](pid_t x) { return ProcState(x) == 'T'; });
  })) << States(tree);

  Reply r = api().Post("/api/supervisor/workers/" + wid + "/resume", "{}");
  ASSERT_EQ(r.status, 200u) << Describe(r);
  EXPECT_EQ(r.Str({"status"}), "RUNNING");
  EXPECT_TRUE(WaitFor([&] {
    return std::none_of(tree.begin(), tree.end(), [](pid_t x) { return ProcState(x) == 'T'; });
  })) << States(tree);

  Reply t = Terminate(wid);
  ASSERT_EQ(t.status, 200u) << Describe(t);
  EXPECT_EQ(t.Str({"status"}), "TERMINATED");
  // Answered once the tree is gone: setsid'd and double-forked descendants included.
  EXPECT_TRUE(Daemon::WorkerTree(wid).empty()) << States(Daemon::WorkerTree(wid));
  for (pid_t x : tree) EXPECT_FALSE(ProcAlive(x)) << x << " " << ProcCmdline(x);

  Reply j = WaitJob(api(), job_id, "FAILED");
  EXPECT_EQ(j.Str({"status"}), "FAILED") << Describe(j);
}

TEST_F(LifecycleTest, TerminateOfAPausedTreeEndsEverything) {
  std::string job_id, wid;
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(StartRunning(Sh(kTreeScript), &job_id, &wid, &pid));
  ASSERT_TRUE(TreeHas(wid, {"sleep 300", "sleep 301", "sleep 60"}));
  const std::vector<pid_t> tree = Daemon::WorkerTree(wid);
  ASSERT_EQ(api().Post("/api/supervisor/workers/" + wid + "/pause", "").status, 200u);

  Reply t = Terminate(wid, R"({"grace_seconds":2})");
  ASSERT_EQ(t.status, 200u) << Describe(t);
  EXPECT_EQ(t.Str({"status"}), "TERMINATED");
  EXPECT_EQ(t.Str({"status_reason"}), "TERMINATE_REQUESTED");
  EXPECT_TRUE(Daemon::WorkerTree(wid).empty()) << States(Daemon::WorkerTree(wid));
  for (pid_t x : tree) EXPECT_FALSE(ProcAlive(x)) << x << " " << ProcCmdline(x);
}

TEST_F(LifecycleTest, TrueCompletesAndFalseFailsWithExitCode) {
  std::string ok_job, ok_w, bad_job, bad_w;
  ASSERT_NO_FATAL_FAILURE(Submit(CommandJob({"true"}), &ok_job, &ok_w));
  ASSERT_NO_FATAL_FAILURE(Submit(CommandJob({"false"}), &bad_job, &bad_w));

  Reply ok = WaitWorker(api(), ok_w, "COMPLETED");
  EXPECT_EQ(ok.Str({"status"}), "COMPLETED") << Describe(ok);
  EXPECT_EQ(ok.Int({"exit_code"}), 0);
  EXPECT_FALSE(ok.Str({"ended_at"}).empty());
  Reply okj = WaitJob(api(), ok_job, "COMPLETED");
  EXPECT_EQ(okj.Str({"status"}), "COMPLETED") << Describe(okj);
  EXPECT_FALSE(okj.Str({"completed_at"}).empty());

  Reply bad = WaitWorker(api(), bad_w, "FAILED");
  EXPECT_EQ(bad.Str({"status"}), "FAILED") << Describe(bad);
  EXPECT_EQ(bad.Int({"exit_code"}), 1);
  EXPECT_EQ(bad.Str({"status_reason"}), "EXIT_NONZERO");
  EXPECT_EQ(WaitJob(api(), bad_job, "FAILED").Str({"status"}), "FAILED");
}

TEST_F(LifecycleTest, TerminateWithoutWaitAnswers202) {
  std::string job_id, wid;
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(StartRunning({"sleep", "60"}, &job_id, &wid, &pid));
  Reply t = Terminate(wid, R"({"wait":false})");
  ASSERT_EQ(t.status, 202u) << Describe(t);
  EXPECT_EQ(t.Str({"id"}), wid);
  Reply w = WaitWorker(api(), wid, "TERMINATED");
  EXPECT_EQ(w.Str({"status"}), "TERMINATED") << Describe(w);
  EXPECT_TRUE(WaitFor([&] { return !ProcAlive(pid); }));
}

TEST_F(LifecycleTest, TerminateOfAProcessIgnoringSigtermEndsBySigkillAfterGrace) {
  std::string job_id, wid;
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(
      StartRunning(Sh("trap '' TERM; echo ready; sleep 60"), &job_id, &wid, &pid));
  ASSERT_NE(WaitLog(api(), wid, "ready").find("ready"), std::string::npos);
  const auto start = std::chrono::steady_clock::now();
  Reply t = Terminate(wid, R"({"grace_seconds":1})");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(t.status, 200u) << Describe(t);
  EXPECT_EQ(t.Str({"status"}), "TERMINATED");
  EXPECT_EQ(t.Int({"exit_signal"}), SIGKILL) << Describe(t);
  EXPECT_GE(took, 900ms);  // SIGTERM was ignored: the grace period ran out
  EXPECT_LT(took, 10s);
  EXPECT_FALSE(ProcAlive(pid));
  EXPECT_TRUE(Daemon::WorkerTree(wid).empty());
}

TEST_F(LifecycleTest, TimeoutFailsTheAttempt) {
  std::string job_id, wid;
  ASSERT_NO_FATAL_FAILURE(
      Submit(CommandJob({"sleep", "30"}, {{"timeout_seconds", 1}}), &job_id, &wid));
  Reply w = WaitWorker(api(), wid, "FAILED", 15s);
  EXPECT_EQ(w.Str({"status"}), "FAILED") << Describe(w);
  EXPECT_EQ(w.Str({"status_reason"}), "TIMEOUT");
  EXPECT_EQ(WaitJob(api(), job_id, "FAILED").Str({"status"}), "FAILED");
  EXPECT_TRUE(Daemon::WorkerTree(wid).empty());
}

TEST_F(LifecycleTest, RetriesUpToMaxAttemptsThenFails) {
  std::string job_id, wid;
  ASSERT_NO_FATAL_FAILURE(
      Submit(CommandJob({"false"},
                        {{"retry", json::object{{"max_attempts", 3}, {"initial_backoff_ms", 50}}}}),
             &job_id, &wid));
  Reply w;
  ASSERT_TRUE(WaitFor(
      [&] {
        w = api().Get("/api/supervisor/workers/" + wid);
        return w.Str({"status"}) == "FAILED" && w.Int({"attempt"}) == 3;
      },
      15s))
      << Describe(w);
  EXPECT_EQ(w.Int({"exit_code"}), 1);
  const std::vector<std::string> states = ToStates(w);
  EXPECT_EQ(std::count(states.begin(), states.end(), "RETRYING"), 2)
      << ::testing::PrintToString(states);
  EXPECT_EQ(std::count(states.begin(), states.end(), "RUNNING"), 3)
      << ::testing::PrintToString(states);
  EXPECT_EQ(states.back(), "FAILED");
  EXPECT_EQ(WaitJob(api(), job_id, "FAILED").Str({"status"}), "FAILED");
}

TEST_F(LifecycleTest, WorkerDetailHasTransitionsOldestFirstAndLiveUsage) {
  std::string job_id, wid;
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(StartRunning({"sleep", "60"}, &job_id, &wid, &pid));
  ASSERT_EQ(api().Post("/api/supervisor/workers/" + wid + "/pause", "").status, 200u);
  ASSERT_EQ(api().Post("/api/supervisor/workers/" + wid + "/resume", "").status, 200u);

  Reply w = api().Get("/api/supervisor/workers/" + wid);
  ASSERT_EQ(w.status, 200u) << Describe(w);
  const std::vector<std::string> states = ToStates(w);
  ASSERT_GE(states.size(), 3u) << w.body;
  EXPECT_EQ(std::vector<std::string>(states.end() - 3, states.end()),
            (std::vector<std::string>{"RUNNING", "PAUSED", "RUNNING"}));
  const json::array& tr = w.At({"transitions"}).as_array();
  std::string prev;
  for (const json::value& t : tr) {
    const std::string ts(t.at("timestamp").as_string());
    EXPECT_LE(prev, ts) << "transitions not oldest first: " << w.body;
    prev = ts;
    EXPECT_TRUE(t.as_object().contains("from_state"));
    EXPECT_TRUE(t.at("reason").is_string());
  }
  EXPECT_EQ(tr.back().at("from_state"), "PAUSED");
  EXPECT_EQ(tr.back().at("reason"), "RESUME_REQUESTED");

  const json::value& usage = w.At({"usage"});
  ASSERT_TRUE(usage.is_object()) << w.body;
  EXPECT_TRUE(usage.at("cpu_seconds").is_number());
  EXPECT_TRUE(usage.at("sampled_at").is_string()) << w.body;  // a live sample says when it was read
  EXPECT_GE(w.Int({"usage", "processes"}), 1) << w.body;
  // Paused right after its start, the process may not have run an instruction yet (its RSS
  // reads 0); once resumed it execs `sleep`, and the live figure follows.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (w.Int({"usage", "rss_bytes"}) <= 0 && std::chrono::steady_clock::now() < deadline) {
    w = api().Get("/api/supervisor/workers/" + wid);
  }
  EXPECT_GT(w.Int({"usage", "rss_bytes"}), 0) << w.body;
  ASSERT_EQ(Terminate(wid).status, 200u);
  Reply ended = api().Get("/api/supervisor/workers/" + wid);
  ASSERT_EQ(ended.status, 200u) << Describe(ended);
  EXPECT_EQ(ended.Int({"usage", "processes"}), 0) << ended.body;
  EXPECT_TRUE(ended.At({"usage", "sampled_at"}).is_null()) << ended.body;
}

TEST_F(LifecycleTest, LogsTailReturnsTheLastLines) {
  std::string job_id, wid;
  ASSERT_NO_FATAL_FAILURE(Submit(
      CommandJob(Sh("i=1; while [ $i -le 50 ]; do echo line$i; i=$((i+1)); done; echo err >&2")),
      &job_id, &wid));
  ASSERT_EQ(WaitWorker(api(), wid, "COMPLETED").Str({"status"}), "COMPLETED");
  Reply r = api().Get("/api/supervisor/workers/" + wid + "/logs?tail=3");
  ASSERT_EQ(r.status, 200u) << Describe(r);
  EXPECT_EQ(r.Header("Content-Type").rfind("text/plain", 0), 0u) << r.Header("Content-Type");
  EXPECT_EQ(r.body, "line49\nline50\nerr\n");
  Reply all = api().Get("/api/supervisor/workers/" + wid + "/logs");
  ASSERT_EQ(all.status, 200u);
  EXPECT_EQ(all.body.rfind("line1\n", 0), 0u) << all.body.substr(0, 100);
}

TEST_F(LifecycleTest, WorkerCountStartsThatManyWorkers) {
  std::string job_id;
  ASSERT_NO_FATAL_FAILURE(
      Submit(CommandJob({"sleep", "60"}, {{"worker_count", 3}}), &job_id, nullptr));
  std::vector<std::string> ids = WorkerIds(api(), job_id);
  ASSERT_EQ(ids.size(), 3u);
  std::vector<int64_t> pids;
  for (const auto& id : ids) {
    Reply w = WaitWorker(api(), id, "RUNNING");
    EXPECT_EQ(w.Str({"status"}), "RUNNING") << Describe(w);
    pids.push_back(w.Int({"pid"}));
  }
  std::sort(pids.begin(), pids.end());
  EXPECT_EQ(std::unique(pids.begin(), pids.end()), pids.end()) << "workers share a pid";
  Reply list = api().Get("/api/supervisor/workers?job_id=" + job_id);
  ASSERT_EQ(list.status, 200u);
  EXPECT_EQ(list.At({"workers"}).as_array().size(), 3u);
  // The stored records (lists read the database) carry the same pids: they are written in
  // the commit that follows the start's.
  EXPECT_TRUE(WaitFor([&] {
    Reply l = api().Get("/api/supervisor/workers?job_id=" + job_id);
    std::vector<int64_t> listed;
    for (const auto& w : l.At({"workers"}).as_array()) {
      if (w.as_object().at("pid").is_int64()) listed.push_back(w.as_object().at("pid").as_int64());
    }
    std::sort(listed.begin(), listed.end());
    return listed == pids;
  })) << "the listed workers never showed the pids of their processes";
  // Terminating one fails the job, and a failed job's other workers are ended with it.
  EXPECT_EQ(Terminate(ids[0]).status, 200u);
  EXPECT_EQ(WaitJob(api(), job_id, "FAILED").Str({"status"}), "FAILED");
  for (size_t i = 1; i < ids.size(); ++i) {
    Reply w = WaitWorker(api(), ids[i], "TERMINATED");
    EXPECT_EQ(w.Str({"status"}), "TERMINATED") << Describe(w);
    EXPECT_EQ(w.Str({"status_reason"}), "JOB_FAILED");
    EXPECT_TRUE(WaitFor([&] { return Daemon::WorkerTree(ids[i]).empty(); }));
  }
}

TEST_F(LifecycleTest, OutsideSigstopIsRecordedAsPaused) {
  std::string job_id, wid;
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(StartRunning({"sleep", "60"}, &job_id, &wid, &pid));
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  Reply w = WaitWorker(api(), wid, "PAUSED");
  EXPECT_EQ(w.Str({"status"}), "PAUSED") << Describe(w);
  EXPECT_EQ(w.Str({"status_reason"}), "STOPPED_EXTERNALLY");
  Reply r = api().Post("/api/supervisor/workers/" + wid + "/resume", "");
  EXPECT_EQ(r.status, 200u) << Describe(r);
  EXPECT_TRUE(WaitFor([&] { return ProcState(pid) != 'T'; }));
  EXPECT_EQ(Terminate(wid).status, 200u);
}

TEST_F(LifecycleTest, OutsideKill9IsRecordedAsKilledBySignal) {
  std::string job_id, wid;
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(StartRunning({"sleep", "60"}, &job_id, &wid, &pid));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  Reply w = WaitWorker(api(), wid, "FAILED");
  EXPECT_EQ(w.Str({"status"}), "FAILED") << Describe(w);
  EXPECT_EQ(w.Str({"status_reason"}), "KILLED_BY_SIGNAL");
  EXPECT_EQ(w.Int({"exit_signal"}), 9);
  EXPECT_TRUE(w.At({"exit_code"}).is_null()) << w.body;
  EXPECT_EQ(WaitJob(api(), job_id, "FAILED").Str({"status"}), "FAILED");
}

TEST_F(LifecycleTest, CommandNotFoundFailsWith127) {
  std::string job_id, wid;
  ASSERT_NO_FATAL_FAILURE(
      Submit(CommandJob({"/nonexistent/overseer-it-no-such-program"}), &job_id, &wid));
  Reply w = WaitWorker(api(), wid, "FAILED");
  EXPECT_EQ(w.Str({"status"}), "FAILED") << Describe(w);
  EXPECT_EQ(w.Int({"exit_code"}), 127) << w.body;
}

TEST_F(LifecycleTest, ProcessThatCannotStartIsAnAttemptThatFailedAtOnce) {
  // posix_spawn itself fails (no such working directory): the start was already being
  // committed, so the record shows RUNNING then FAILED (SPAWN_FAILED), retried by the policy.
  std::string job_id, wid;
  const json::object retry{{"max_attempts", 2}, {"initial_backoff_ms", 10}};
  ASSERT_NO_FATAL_FAILURE(
      Submit(CommandJob({"true"}, {{"task", json::object{{"cwd", d().root_dir() + "/no-such-dir"}}},
                                   {"retry", retry}}),
             &job_id, &wid));
  Reply job = WaitJob(api(), job_id, "FAILED");
  EXPECT_EQ(job.Str({"status"}), "FAILED") << Describe(job);
  Reply w = api().Get("/api/supervisor/workers/" + wid);
  ASSERT_EQ(w.status, 200u) << Describe(w);
  EXPECT_EQ(w.Str({"status"}), "FAILED");
  EXPECT_EQ(w.Str({"status_reason"}), "SPAWN_FAILED");
  EXPECT_EQ(w.Int({"attempt"}), 2);
  EXPECT_TRUE(w.At({"pid"}).is_null()) << w.body;
  std::vector<std::string> path;
  for (const auto& t : w.At({"transitions"}).as_array()) {
    path.push_back(std::string(t.as_object().at("to_state").as_string()) + "/" +
                   std::string(t.as_object().at("reason").as_string()));
  }
  const std::vector<std::string> want = {"IDLE/CREATED",        "RUNNING/SPAWNED",
                                         "FAILED/SPAWN_FAILED", "RETRYING/RETRY_SCHEDULED",
                                         "RUNNING/RESPAWNED",   "FAILED/SPAWN_FAILED"};
  EXPECT_EQ(path, want) << w.body;
}

TEST_F(LifecycleTest, EnvCwdAndOverseerVariablesReachTheWorker) {
  const std::string cwd = d().root_dir();
  std::string job_id, wid;
  ASSERT_NO_FATAL_FAILURE(Submit(
      CommandJob(Sh("echo \"FOO=$FOO\"; echo \"PWD=$(pwd)\"; echo \"URL=$OVERSEER_URL\"; "
                    "echo \"JOB=$OVERSEER_JOB_ID\"; echo \"DEPTH=$OVERSEER_DEPTH\"; "
                    "echo \"TOKEN=${OVERSEER_TOKEN:+set}\"; "
                    "echo \"SECRET=${OVERSEER_JWT_SECRET_FILE:-unset}\""),
                 {{"task", json::object{{"cwd", cwd}, {"env", json::object{{"FOO", "bar baz"}}}}}}),
      &job_id, &wid));
  ASSERT_EQ(WaitWorker(api(), wid, "COMPLETED").Str({"status"}), "COMPLETED");
  const std::string log = api().Get("/api/supervisor/workers/" + wid + "/logs").body;
  EXPECT_NE(log.find("FOO=bar baz\n"), std::string::npos) << log;
  EXPECT_NE(log.find("PWD=" + cwd + "\n"), std::string::npos) << log;
  EXPECT_NE(log.find("URL=" + d().url() + "\n"), std::string::npos) << log;
  EXPECT_NE(log.find("JOB=" + job_id + "\n"), std::string::npos) << log;
  EXPECT_NE(log.find("DEPTH=0\n"), std::string::npos) << log;
  EXPECT_NE(log.find("TOKEN=set\n"), std::string::npos) << log;
  EXPECT_NE(log.find("SECRET=unset\n"), std::string::npos) << "the JWT secret leaked: " << log;
}

TEST_F(LifecycleTest, WorkerTokenCreatesAChildJobUnderItsOwnJob) {
  if (::access("/usr/bin/curl", X_OK) != 0 && ::access("/bin/curl", X_OK) != 0) {
    GTEST_SKIP() << "curl is not installed: a worker cannot call the API from a shell";
  }
  const std::string script =
      "code=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -X POST "
      "-H \"Authorization: Bearer $OVERSEER_TOKEN\" -H 'Content-Type: application/json' "
      "-d '{\"name\":\"child\",\"task\":{\"runtime\":\"command\",\"command\":[\"true\"]}}' "
      "\"$OVERSEER_URL/api/jobs\"); echo \"child-status=$code\"; "
      "q=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "
      "-H \"Authorization: Bearer $OVERSEER_TOKEN\" \"$OVERSEER_URL/api/resources/quotas\"); "
      "echo \"quotas-status=$q\"; sleep 60";
  std::string job_id, wid;
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(StartRunning(Sh(script), &job_id, &wid, &pid));
  const std::string log = WaitLog(api(), wid, "quotas-status=");
  EXPECT_NE(log.find("child-status=201"), std::string::npos) << log;
  EXPECT_NE(log.find("quotas-status=200"), std::string::npos) << log;  // it may read quotas

  Reply kids = api().Get("/api/jobs?parent_job_id=" + job_id);
  ASSERT_EQ(kids.status, 200u) << Describe(kids);
  ASSERT_EQ(kids.At({"jobs"}).as_array().size(), 1u) << kids.body;
  const json::value& child = kids.At({"jobs"}).as_array()[0];
  EXPECT_EQ(child.at("depth"), 1);
  EXPECT_EQ(child.at("parent_job_id"), json::value(job_id));
  EXPECT_EQ(child.at("workspace_id"), json::value(ws()));
  EXPECT_EQ(child.at("name"), "child");
  EXPECT_EQ(Terminate(wid).status, 200u);
}

TEST_F(LifecycleTest, WorkerTokenAllocatesSlotsForItsOwnSubtreeOnly) {
  if (::access("/usr/bin/curl", X_OK) != 0 && ::access("/bin/curl", X_OK) != 0) {
    GTEST_SKIP() << "curl is not installed: a worker cannot call the API from a shell";
  }
  // Another job of the workspace, outside the worker's subtree.
  std::string other_id, other_wid;
  pid_t other_pid = 0;
  ASSERT_NO_FATAL_FAILURE(StartRunning(Sh("sleep 60"), &other_id, &other_wid, &other_pid));
  auto post = [](const std::string& path, const std::string& body, const std::string& var) {
    return var +
           "=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -X POST "
           "-H \"Authorization: Bearer $OVERSEER_TOKEN\" -H 'Content-Type: application/json' "
           "-d '" +
           body + "' \"$OVERSEER_URL" + path + "\"); echo \"" + var + "=$" + var + "\"; ";
  };
  const std::string script =
      post("/api/resources/allocate",
           R"({"job_id":"'$OVERSEER_JOB_ID'","depth":1,"worker_count":1})", "own") +
      post("/api/resources/allocate",
           R"({"job_id":")" + other_id + R"(","depth":1,"worker_count":1})", "other") +
      post("/api/resources/release", R"({"job_id":"'$OVERSEER_JOB_ID'"})", "release") + "sleep 60";
  std::string job_id, wid;
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(StartRunning(Sh(script), &job_id, &wid, &pid));
  const std::string log = WaitLog(api(), wid, "release=");
  EXPECT_NE(log.find("own=201"), std::string::npos) << log;
  EXPECT_NE(log.find("other=403"), std::string::npos) << log;
  EXPECT_NE(log.find("release=200"), std::string::npos) << log;
  EXPECT_EQ(Terminate(wid).status, 200u);
  EXPECT_EQ(Terminate(other_wid).status, 200u);
}

}  // namespace
}  // namespace overseer::it
