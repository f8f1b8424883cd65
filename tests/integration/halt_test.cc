// The kill switch (SPEC §11) against the real daemon and real processes: a freeze stops every
// process of a subtree (state T in /proc) and refuses new jobs, resumes and the writes of the
// subtree's own tokens; its unhalt resumes exactly what it paused; terminate ends the subtree;
// PENDING jobs are canceled; the workspace halt needs supervisor:admin; a halt survives a
// restart; each halt and unhalt is an event with who and why.
#include <chrono>
#include <thread>

#include "integration/db_reader.h"
#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;

struct HaltEvent {
  std::string type;
  std::string job_id;
  json::value data;
};

// The job.halted / job.unhalted events of `ws`, oldest first, read from the daemon's database
// (Daemon::db(): SQLite or PostgreSQL).
std::vector<HaltEvent> HaltEvents(const std::string& db_location, const std::string& ws) {
  std::vector<HaltEvent> out;
  std::unique_ptr<DbReader> db = DbReader::Open(db_location);
  const bool ok = db->Query(
      "SELECT type, job_id, " + db->JsonText("data_json") +
          " FROM events WHERE workspace_id = $1 AND type IN ('job.halted', 'job.unhalted') "
          "ORDER BY seq",
      ws, [&](const DbRow& row) {
        boost::system::error_code ec;
        out.push_back(HaltEvent{row.Text(0), row.Text(1), json::parse(row.Text(2), ec)});
      });
  if (!ok) ADD_FAILURE() << "cannot read events: " << db->error();
  return out;
}

std::vector<std::string> AdminScopes() {
  std::vector<std::string> s = AllScopes();
  s.push_back("supervisor:admin");
  return s;
}

// Shared by both fixtures: submitting, and reading a job's first worker.
class HaltHelpers {
 protected:
  static std::string Submit(Api& api, const std::vector<std::string>& argv,
                            const std::string& parent = "") {
    json::object extra;
    if (!parent.empty()) extra["parent_job_id"] = parent;
    Reply r = api.Post("/api/jobs", CommandJob(argv, extra));
    EXPECT_EQ(r.status, 201u) << Describe(r);
    return r.Str({"id"});
  }
  static std::string FirstWorker(Api& api, const std::string& job_id) {
    std::vector<std::string> ids = WorkerIds(api, job_id);
    return ids.empty() ? std::string() : ids[0];
  }
  // Waits for the first worker of `job_id` to run; its id and pid.
  static std::pair<std::string, pid_t> Running(Api& api, const std::string& job_id) {
    const std::string wid = FirstWorker(api, job_id);
    Reply w = WaitWorker(api, wid, "RUNNING");
    EXPECT_EQ(w.Str({"status"}), "RUNNING") << Describe(w);
    return {wid, static_cast<pid_t>(w.Int({"pid"}))};
  }
};

class HaltTest : public SharedDaemonTest<HaltTest>, protected HaltHelpers {
 protected:
  std::string Submit(const std::vector<std::string>& argv, const std::string& parent = "") {
    return HaltHelpers::Submit(api(), argv, parent);
  }
  std::vector<HaltEvent> Events() { return HaltEvents(d().db(), ws()); }
};

TEST_F(HaltTest, FreezeStopsEveryProcessOfTheTreeAndRefusesNewWork) {
  const std::string root = Submit({"sleep", "60"});
  const std::string child = Submit({"sleep", "60"}, root);
  const std::string grandchild = Submit({"sleep", "60"}, child);
  std::vector<std::pair<std::string, pid_t>> workers;
  for (const std::string& j : {root, child, grandchild}) workers.push_back(Running(api(), j));
  // A job outside the subtree is not touched.
  const std::string other = Submit({"sleep", "60"});
  const auto [other_wid, other_pid] = Running(api(), other);

  Reply h = api().Post("/api/jobs/" + root + "/halt",
                       json::object{{"mode", "freeze"}, {"reason", "runaway \"loop\""}});
  ASSERT_EQ(h.status, 200u) << Describe(h);
  EXPECT_EQ(h.Str({"id"}), root);
  EXPECT_EQ(h.Str({"halted", "mode"}), "freeze") << h.body;
  EXPECT_EQ(h.Str({"halted", "reason"}), "runaway \"loop\"");
  EXPECT_EQ(h.Str({"halted", "by"}), "tester");
  EXPECT_EQ(h.Str({"halted", "scope"}), "job");
  EXPECT_FALSE(h.Str({"halted", "at"}).empty());
  // Answered once every process is stopped: no polling needed.
  for (const auto& [wid, pid] : workers) {
    Reply w = api().Get("/api/supervisor/workers/" + wid);
    EXPECT_EQ(w.Str({"status"}), "PAUSED") << Describe(w);
    EXPECT_EQ(w.Str({"status_reason"}), "HALTED");
    EXPECT_EQ(ProcState(pid), 'T') << "pid " << pid;
  }
  EXPECT_EQ(api().Get("/api/supervisor/workers/" + other_wid).Str({"status"}), "RUNNING");
  EXPECT_NE(ProcState(other_pid), 'T');
  EXPECT_TRUE(api().Get("/api/jobs/" + child).At({"halted"}).is_null());

  // No new job in the subtree, at any depth.
  for (const std::string& parent : {root, grandchild}) {
    Reply r = api().Post("/api/jobs", CommandJob({"true"}, {{"parent_job_id", parent}}));
    EXPECT_TRUE(IsError(r, 409, "HALTED")) << Describe(r);
    EXPECT_EQ(r.Str({"error", "details", "job_id"}), root) << r.body;
  }
  // No resume of a worker in it.
  EXPECT_TRUE(IsError(api().Post("/api/supervisor/workers/" + workers[1].first + "/resume", "{}"),
                      409, "HALTED"));
  // Halting again: 409 HALTED (a freeze of the same job may only be escalated to terminate).
  EXPECT_TRUE(IsError(api().Post("/api/jobs/" + child + "/halt", json::object{{"reason", "x"}}),
                      409, "HALTED"));
  EXPECT_TRUE(IsError(api().Post("/api/jobs/" + root + "/halt", json::object{{"reason", "x"}}), 409,
                      "HALTED"));
  // The subtree's own token reads but writes nothing, its unhalt included.
  TokenSpec spec;
  spec.workspace = ws();
  spec.job_id = grandchild;
  Api agent(d().url(), d().Token(spec));
  EXPECT_EQ(agent.Get("/api/jobs/" + grandchild).status, 200u);
  EXPECT_EQ(agent.Get("/api/supervisor/workers/" + workers[2].first).status, 200u);
  EXPECT_TRUE(IsError(agent.Post("/api/jobs", CommandJob({"true"})), 409, "HALTED"));
  EXPECT_TRUE(IsError(agent.Post("/api/jobs/" + root + "/unhalt", "{}"), 409, "HALTED"));
  EXPECT_TRUE(IsError(agent.Post("/api/jobs/" + grandchild + "/cancel", "{}"), 409, "HALTED"));
  // Bad bodies.
  EXPECT_TRUE(IsError(api().Post("/api/jobs/" + other + "/halt", "{}"), 400, "INVALID_REQUEST"));
  EXPECT_TRUE(IsError(
      api().Post("/api/jobs/" + other + "/halt", json::object{{"mode", "melt"}, {"reason", "x"}}),
      400, "INVALID_REQUEST"));
  EXPECT_TRUE(IsError(api().Post("/api/jobs/j_nosuchjob/halt", json::object{{"reason", "x"}}), 404,
                      "NOT_FOUND"));

  // The audit trail: who and why, in the event log.
  std::vector<HaltEvent> ev = Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, "job.halted");
  EXPECT_EQ(ev[0].job_id, root);
  ASSERT_TRUE(ev[0].data.is_object()) << json::serialize(ev[0].data);
  EXPECT_EQ(ev[0].data.at("by"), "tester");
  EXPECT_EQ(ev[0].data.at("reason"), "runaway \"loop\"");
  EXPECT_EQ(ev[0].data.at("mode"), "freeze");

  EXPECT_EQ(api().Post("/api/jobs/" + root + "/cancel", "{}").status, 200u);
  EXPECT_EQ(api().Post("/api/jobs/" + other + "/cancel", "{}").status, 200u);
}

TEST_F(HaltTest, UnhaltResumesExactlyWhatTheFreezePaused) {
  const std::string root = Submit({"sleep", "60"});
  const std::string child = Submit({"sleep", "60"}, root);
  const auto [root_wid, root_pid] = Running(api(), root);
  const auto [child_wid, child_pid] = Running(api(), child);
  // Paused by hand before the halt: stays paused after the unhalt.
  Reply p = api().Post("/api/supervisor/workers/" + child_wid + "/pause", "{}");
  ASSERT_EQ(p.status, 200u) << Describe(p);

  ASSERT_EQ(api().Post("/api/jobs/" + root + "/halt", json::object{{"reason", "look"}}).status,
            200u);
  EXPECT_EQ(ProcState(root_pid), 'T');
  EXPECT_TRUE(IsError(api().Post("/api/jobs/" + child + "/unhalt", "{}"), 409, "HALTED"));

  Reply u = api().Post("/api/jobs/" + root + "/unhalt", "{}");
  ASSERT_EQ(u.status, 200u) << Describe(u);
  EXPECT_TRUE(u.At({"halted"}).is_null()) << u.body;
  Reply rw = api().Get("/api/supervisor/workers/" + root_wid);
  EXPECT_EQ(rw.Str({"status"}), "RUNNING") << Describe(rw);
  EXPECT_EQ(rw.Str({"status_reason"}), "UNHALTED");
  EXPECT_NE(ProcState(root_pid), 'T');
  Reply cw = api().Get("/api/supervisor/workers/" + child_wid);
  EXPECT_EQ(cw.Str({"status"}), "PAUSED") << Describe(cw);
  EXPECT_EQ(cw.Str({"status_reason"}), "PAUSE_REQUESTED");
  EXPECT_EQ(ProcState(child_pid), 'T');
  // Open again: a new child, a resume by hand.
  EXPECT_EQ(api().Post("/api/jobs", CommandJob({"true"}, {{"parent_job_id", root}})).status, 201u);
  EXPECT_EQ(api().Post("/api/supervisor/workers/" + child_wid + "/resume", "{}").status, 200u);
  // Not halted any more.
  EXPECT_TRUE(
      IsError(api().Post("/api/jobs/" + root + "/unhalt", "{}"), 409, "INVALID_STATE_TRANSITION"));

  std::vector<HaltEvent> ev = Events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].type, "job.unhalted");
  EXPECT_EQ(ev[1].job_id, root);
  EXPECT_EQ(ev[1].data.at("by"), "tester");
  EXPECT_EQ(ev[1].data.at("reason"), "look");
  EXPECT_EQ(api().Post("/api/jobs/" + root + "/cancel", "{}").status, 200u);
}

TEST_F(HaltTest, TerminateEndsTheWholeSubtreeAndKeepsRefusingNewJobs) {
  const std::string root = Submit(Sh("setsid sleep 303 & sleep 60"));
  const std::string child = Submit({"sleep", "60"}, root);
  const std::string grandchild = Submit({"sleep", "60"}, child);
  std::vector<std::string> wids;
  for (const std::string& j : {root, child, grandchild}) wids.push_back(Running(api(), j).first);
  ASSERT_TRUE(WaitFor([&] { return Daemon::WorkerTree(wids[0]).size() >= 2; }));

  Reply h =
      api().Post("/api/jobs/" + root + "/halt",
                 json::object{{"mode", "terminate"}, {"reason", "kill it"}, {"grace_seconds", 1}});
  ASSERT_EQ(h.status, 200u) << Describe(h);
  EXPECT_EQ(h.Str({"status"}), "CANCELED") << h.body;
  EXPECT_EQ(h.Str({"halted", "mode"}), "terminate");
  // Nothing left running, answered once it is so.
  for (const std::string& wid : wids) {
    EXPECT_TRUE(Daemon::WorkerTree(wid).empty()) << wid;
    Reply w = api().Get("/api/supervisor/workers/" + wid);
    EXPECT_EQ(w.Str({"status"}), "TERMINATED") << Describe(w);
    EXPECT_EQ(w.Str({"status_reason"}), "HALTED");
  }
  for (const std::string& j : {root, child, grandchild}) {
    Reply r = api().Get("/api/jobs/" + j);
    EXPECT_EQ(r.Str({"status"}), "CANCELED") << Describe(r);
    EXPECT_EQ(r.Str({"status_reason"}), "HALTED");
  }
  // Still halted: a new job under it is refused as HALTED, not as "parent ended".
  EXPECT_TRUE(IsError(api().Post("/api/jobs", CommandJob({"true"}, {{"parent_job_id", child}})),
                      409, "HALTED"));
  // The unhalt lifts the refusal only.
  Reply u = api().Post("/api/jobs/" + root + "/unhalt", "{}");
  ASSERT_EQ(u.status, 200u) << Describe(u);
  EXPECT_TRUE(u.At({"halted"}).is_null());
  EXPECT_TRUE(IsError(api().Post("/api/jobs", CommandJob({"true"}, {{"parent_job_id", child}})),
                      409, "INVALID_STATE_TRANSITION"));
}

TEST_F(HaltTest, FreezeEscalatedToTerminateEndsTheFrozenProcesses) {
  const std::string root = Submit({"sleep", "60"});
  const auto [wid, pid] = Running(api(), root);
  ASSERT_EQ(api().Post("/api/jobs/" + root + "/halt", json::object{{"reason", "a"}}).status, 200u);
  EXPECT_EQ(ProcState(pid), 'T');
  Reply t = api().Post("/api/jobs/" + root + "/halt",
                       json::object{{"mode", "terminate"}, {"reason", "b"}, {"grace_seconds", 0}});
  ASSERT_EQ(t.status, 200u) << Describe(t);
  EXPECT_EQ(t.Str({"status"}), "CANCELED");
  EXPECT_EQ(t.Str({"halted", "mode"}), "terminate");
  EXPECT_FALSE(ProcAlive(pid));
  EXPECT_EQ(api().Get("/api/supervisor/workers/" + wid).Str({"status"}), "TERMINATED");
}

TEST_F(HaltTest, FreezeCancelsThePendingJobsOfTheSubtree) {
  Reply q = api().Send(
      "PUT", "/api/resources/quotas",
      json::serialize(
          json::object{{"quotas", json::array{json::object{{"depth", 1}, {"max_workers", 1}}}}}));
  ASSERT_EQ(q.status, 200u) << Describe(q);
  const std::string root = Submit({"sleep", "60"});
  const std::string running = Submit({"sleep", "60"}, root);
  const auto [wid, pid] = Running(api(), running);
  const std::string waiting = Submit({"sleep", "60"}, root);  // no slot: PENDING
  ASSERT_EQ(api().Get("/api/jobs/" + waiting).Str({"status"}), "PENDING");

  ASSERT_EQ(api().Post("/api/jobs/" + root + "/halt", json::object{{"reason", "stop"}}).status,
            200u);
  Reply w = api().Get("/api/jobs/" + waiting);
  EXPECT_EQ(w.Str({"status"}), "CANCELED") << Describe(w);
  EXPECT_EQ(w.Str({"status_reason"}), "HALTED");
  EXPECT_EQ(api().Get("/api/supervisor/workers/" + wid).Str({"status"}), "PAUSED");
  EXPECT_EQ(ProcState(pid), 'T');
  EXPECT_EQ(api().Post("/api/jobs/" + root + "/cancel", "{}").status, 200u);
}

TEST_F(HaltTest, WorkspaceHaltNeedsSupervisorAdminAndRefusesNewJobs) {
  const std::string root = Submit({"sleep", "60"});
  const auto [wid, pid] = Running(api(), root);
  EXPECT_TRUE(
      IsError(api().Post("/api/halt", json::object{{"reason", "x"}}), 403, "INSUFFICIENT_SCOPE"));
  TokenSpec spec;
  spec.workspace = ws();
  spec.sub = "oncall";
  spec.scopes = AdminScopes();
  Api admin(d().url(), d().Token(spec));

  Reply h = admin.Post("/api/halt", json::object{{"mode", "freeze"}, {"reason", "incident 42"}});
  ASSERT_EQ(h.status, 200u) << Describe(h);
  EXPECT_EQ(h.Str({"halted", "scope"}), "workspace") << h.body;
  EXPECT_EQ(h.Str({"halted", "by"}), "oncall");
  ASSERT_EQ(h.At({"job_ids"}).as_array().size(), 1u) << h.body;
  EXPECT_EQ(h.At({"job_ids"}).as_array()[0], json::value(root));
  EXPECT_EQ(ProcState(pid), 'T');
  Reply g = api().Get("/api/halt");
  ASSERT_EQ(g.status, 200u) << Describe(g);
  EXPECT_EQ(g.Str({"halted", "reason"}), "incident 42");
  EXPECT_EQ(api().Get("/api/jobs/" + root).Str({"halted", "scope"}), "workspace");
  EXPECT_TRUE(IsError(api().Post("/api/jobs", CommandJob({"true"})), 409, "HALTED"));
  EXPECT_TRUE(IsError(admin.Post("/api/halt", json::object{{"reason", "again"}}), 409, "HALTED"));
  // The job's own unhalt cannot lift the workspace's halt.
  EXPECT_TRUE(IsError(api().Post("/api/jobs/" + root + "/unhalt", "{}"), 409, "HALTED"));
  // Another workspace is not halted.
  Api other(d().url(), d().Token(ws() + "-other"));
  EXPECT_TRUE(other.Get("/api/halt").At({"halted"}).is_null());

  EXPECT_TRUE(IsError(api().Post("/api/unhalt", "{}"), 403, "INSUFFICIENT_SCOPE"));
  Reply u = admin.Post("/api/unhalt", "{}");
  ASSERT_EQ(u.status, 200u) << Describe(u);
  EXPECT_TRUE(u.At({"halted"}).is_null());
  EXPECT_EQ(api().Get("/api/supervisor/workers/" + wid).Str({"status"}), "RUNNING");
  EXPECT_NE(ProcState(pid), 'T');
  Reply n = api().Post("/api/jobs", CommandJob({"true"}));
  EXPECT_EQ(n.status, 201u) << Describe(n);
  std::vector<HaltEvent> ev = Events();
  ASSERT_GE(ev.size(), 4u);  // workspace, root; then workspace, root unhalted
  EXPECT_EQ(ev[0].type, "job.halted");
  EXPECT_EQ(ev[0].job_id, "");
  EXPECT_EQ(ev[0].data.at("by"), "oncall");
  EXPECT_EQ(ev[0].data.at("workspace_wide"), true);
  EXPECT_EQ(ev.back().type, "job.unhalted");
  EXPECT_EQ(api().Post("/api/jobs/" + root + "/cancel", "{}").status, 200u);
}

class HaltRestartTest : public OwnDaemonTest, protected HaltHelpers {};

TEST_F(HaltRestartTest, AHaltSurvivesARestart) {
  const std::string root = Submit(api(), {"sleep", "60"});
  const std::string child = Submit(api(), {"sleep", "60"}, root);
  Running(api(), child);
  ASSERT_EQ(api().Post("/api/jobs/" + root + "/halt", json::object{{"reason", "hold"}}).status,
            200u);
  TokenSpec spec;
  spec.workspace = ws();
  spec.scopes = AdminScopes();
  Api admin(d().url(), d().Token(spec));
  ASSERT_EQ(admin.Post("/api/halt", json::object{{"reason", "all"}}).status, 200u);

  const int st = d().Stop();
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  ASSERT_TRUE(d().Restart());
  Reconnect();
  Reply j = api().Get("/api/jobs/" + root);
  ASSERT_EQ(j.status, 200u) << Describe(j);
  EXPECT_EQ(j.Str({"halted", "reason"}), "hold") << j.body;
  EXPECT_EQ(api().Get("/api/halt").Str({"halted", "reason"}), "all");
  EXPECT_TRUE(IsError(api().Post("/api/jobs", CommandJob({"true"})), 409, "HALTED"));
  Api admin2(d().url(), d().Token(spec));
  ASSERT_EQ(admin2.Post("/api/unhalt", "{}").status, 200u);
  // The job's own halt is still there.
  Reply r = api().Post("/api/jobs", CommandJob({"true"}, {{"parent_job_id", child}}));
  EXPECT_TRUE(r.status == 409u) << Describe(r);
  EXPECT_EQ(r.Str({"error", "code"}), "HALTED") << r.body;
  EXPECT_EQ(api().Post("/api/jobs/" + root + "/unhalt", "{}").status, 200u);
  EXPECT_EQ(api().Post("/api/jobs", CommandJob({"true"})).status, 201u);
}

}  // namespace
}  // namespace overseer::it
