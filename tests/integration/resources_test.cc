// Quotas and worker slots against the real daemon: defaults and changes, jobs waiting for a
// slot (FIFO) and starting when one is freed, pause giving its slot back and resume taking
// it again (or 409 QUOTA_EXCEEDED, also when another writer on the database holds the slots),
// usage warnings, errors, and quotas kept over a restart.
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "integration/db_reader.h"
#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;

json::object QuotaRow(const Reply& r, int depth) {
  for (const json::value& q : r.At({"quotas"}).as_array()) {
    if (q.at("depth") == depth) return q.as_object();
  }
  return {};
}

class ResourcesTest : public SharedDaemonTest<ResourcesTest> {
 protected:
  Reply SetQuota(int depth, int max_workers) {
    return api().Send("PUT", "/api/resources/quotas",
                      json::serialize(json::object{
                          {"quotas", json::array{json::object{{"depth", depth},
                                                              {"max_workers", max_workers}}}}}));
  }
  std::string Submit(const std::vector<std::string>& argv) {
    Reply r = api().Post("/api/jobs", CommandJob(argv));
    EXPECT_EQ(r.status, 201u) << Describe(r);
    return r.Str({"id"});
  }
  std::string FirstWorker(const std::string& job_id) {
    std::vector<std::string> ids = WorkerIds(api(), job_id);
    return ids.empty() ? std::string() : ids[0];
  }
};

TEST_F(ResourcesTest, DefaultQuotasAndAChangeOfOneDepth) {
  Reply q = api().Get("/api/resources/quotas");
  ASSERT_EQ(q.status, 200u) << Describe(q);
  EXPECT_EQ(q.Int({"max_depth"}), 5);
  ASSERT_EQ(q.At({"quotas"}).as_array().size(), 6u) << q.body;
  const int defaults[] = {10, 8, 5, 3, 2, 1};
  for (int d = 0; d <= 5; ++d) {
    json::object row = QuotaRow(q, d);
    EXPECT_EQ(row["max_workers"], defaults[d]) << q.body;
    EXPECT_EQ(row["used"], 0) << q.body;
    EXPECT_EQ(row["available"], defaults[d]) << q.body;
  }
  Reply set = SetQuota(2, 7);
  ASSERT_EQ(set.status, 200u) << Describe(set);
  EXPECT_EQ(QuotaRow(set, 2)["max_workers"], 7) << set.body;
  EXPECT_EQ(QuotaRow(set, 1)["max_workers"], 8) << set.body;
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 2)["max_workers"], 7);
  // Another workspace keeps the defaults.
  Api other(d().url(), d().Token(ws() + "-other"));
  EXPECT_EQ(QuotaRow(other.Get("/api/resources/quotas"), 2)["max_workers"], 5);
}

TEST_F(ResourcesTest, AJobWaitsForASlotAndStartsWhenOneIsFreed) {
  ASSERT_EQ(SetQuota(0, 1).status, 200u);
  const std::string a = Submit({"sleep", "60"});
  ASSERT_EQ(WaitWorker(api(), FirstWorker(a), "RUNNING").Str({"status"}), "RUNNING");
  Reply b = api().Post("/api/jobs", CommandJob({"true"}));
  ASSERT_EQ(b.status, 201u) << Describe(b);
  EXPECT_EQ(b.Str({"status"}), "PENDING");
  EXPECT_EQ(b.Str({"status_reason"}), "WAITING_FOR_QUOTA");
  const std::string c = Submit({"true"});  // behind b (FIFO)
  Reply usage = api().Get("/api/resources/usage");
  ASSERT_EQ(usage.status, 200u) << Describe(usage);
  EXPECT_EQ(usage.Int({"total_used"}), 1);
  const json::value& row0 = usage.At({"usage"}).as_array()[0];
  EXPECT_EQ(row0.at("quota"), 1);
  EXPECT_EQ(row0.at("used"), 1);
  EXPECT_EQ(row0.at("available"), 0);
  EXPECT_EQ(row0.at("warn_80"), true);
  EXPECT_EQ(row0.at("warn_90"), true);
  EXPECT_EQ(api().Get("/api/supervisor/workers/" + FirstWorker(b.Str({"id"}))).Str({"status"}),
            "IDLE");
  EXPECT_EQ(api().Get("/api/jobs/" + b.Str({"id"})).Str({"status"}), "PENDING");
  // The slot comes free: b runs (and completes), then c.
  ASSERT_EQ(api().Post("/api/supervisor/workers/" + FirstWorker(a) + "/terminate", "{}").status,
            200u);
  EXPECT_EQ(WaitJob(api(), b.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");
  EXPECT_EQ(WaitJob(api(), c, "COMPLETED").Str({"status"}), "COMPLETED");
  EXPECT_EQ(api().Get("/api/resources/usage").Int({"total_used"}), 0);
}

TEST_F(ResourcesTest, PauseGivesTheSlotBackAndResumeNeedsOne) {
  ASSERT_EQ(SetQuota(0, 1).status, 200u);
  const std::string a = Submit({"sleep", "60"});
  const std::string wa = FirstWorker(a);
  ASSERT_EQ(WaitWorker(api(), wa, "RUNNING").Str({"status"}), "RUNNING");
  ASSERT_EQ(api().Post("/api/supervisor/workers/" + wa + "/pause", "").status, 200u);
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 0)["used"], 0);
  // The freed slot goes to the next job; a's resume finds none.
  const std::string b = Submit({"sleep", "60"});
  const std::string wb = FirstWorker(b);
  ASSERT_EQ(WaitWorker(api(), wb, "RUNNING").Str({"status"}), "RUNNING");
  Reply refused = api().Post("/api/supervisor/workers/" + wa + "/resume", "");
  EXPECT_TRUE(IsError(refused, 409, "QUOTA_EXCEEDED"));
  EXPECT_EQ(refused.Int({"error", "details", "depth"}), 0) << refused.body;
  EXPECT_EQ(refused.Int({"error", "details", "quota"}), 1) << refused.body;
  EXPECT_EQ(api().Get("/api/supervisor/workers/" + wa).Str({"status"}), "PAUSED");
  ASSERT_EQ(api().Post("/api/supervisor/workers/" + wb + "/terminate", "{}").status, 200u);
  Reply resumed = api().Post("/api/supervisor/workers/" + wa + "/resume", "");
  ASSERT_EQ(resumed.status, 200u) << Describe(resumed);
  EXPECT_EQ(resumed.Str({"status"}), "RUNNING");
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 0)["used"], 1);
  EXPECT_EQ(api().Post("/api/jobs/" + a + "/cancel", "{}").status, 200u);
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 0)["used"], 0);
}

TEST_F(ResourcesTest, AResumeIsRefusedWhenAnotherWriterFilledTheDepthInTheDatabase) {
  // Another writer on the same database (a second daemon) holds the depth's slots: this
  // daemon's book has the slot free, the database refuses the commit of the resume.
  ASSERT_EQ(SetQuota(0, 1).status, 200u);
  const std::string a = Submit({"sleep", "60"});
  const std::string wa = FirstWorker(a);
  Reply running = WaitWorker(api(), wa, "RUNNING");
  ASSERT_EQ(running.Str({"status"}), "RUNNING") << Describe(running);
  const auto pid = static_cast<pid_t>(running.Int({"pid"}));
  ASSERT_EQ(api().Post("/api/supervisor/workers/" + wa + "/pause", "").status, 200u);
  std::unique_ptr<DbReader> db = DbReader::Open(d().db(), /*writable=*/true);
  const std::string other_id = "a_other_daemon_" + std::to_string(::getpid());
  ASSERT_TRUE(db->Query(
      "INSERT INTO resource_allocations (id, workspace_id, job_id, worker_id, "
      "depth, worker_count, allocated_at) VALUES ('" +
          other_id + "', $1, 'j_other_daemon', NULL, 0, 1, " + db->MsValue(1'800'000'000'000) + ")",
      ws(), [](const DbRow&) {}))
      << db->error();

  Reply refused = api().Post("/api/supervisor/workers/" + wa + "/resume", "");
  EXPECT_TRUE(IsError(refused, 409, "QUOTA_EXCEEDED")) << Describe(refused);
  EXPECT_EQ(refused.Str({"error", "details", "worker_id"}), wa) << refused.body;
  EXPECT_EQ(refused.Int({"error", "details", "quota"}), 1) << refused.body;
  EXPECT_EQ(refused.Int({"error", "details", "used"}), 1) << refused.body;
  // Still PAUSED with its process stopped, and no slot counted for it.
  Reply w = api().Get("/api/supervisor/workers/" + wa);
  EXPECT_EQ(w.Str({"status"}), "PAUSED") << w.body;
  EXPECT_EQ(w.Str({"status_reason"}), "PAUSE_REQUESTED") << w.body;
  EXPECT_EQ(ProcState(pid), 'T');
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 0)["used"], 0);

  // The other writer gives its slot back: the resume goes through.
  ASSERT_TRUE(db->Query("UPDATE resource_allocations SET released_at = " +
                            db->MsValue(1'800'000'000'001) + " WHERE id = $1",
                        other_id, [](const DbRow&) {}))
      << db->error();
  Reply resumed = api().Post("/api/supervisor/workers/" + wa + "/resume", "");
  ASSERT_EQ(resumed.status, 200u) << Describe(resumed);
  EXPECT_EQ(resumed.Str({"status"}), "RUNNING");
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 0)["used"], 1);
  EXPECT_EQ(api().Post("/api/jobs/" + a + "/cancel", "{}").status, 200u);
}

TEST_F(ResourcesTest, AnOutsideSigcontTakesTheSlotBackEvenOverTheQuota) {
  ASSERT_EQ(SetQuota(0, 1).status, 200u);
  const std::string a = Submit({"sleep", "60"});
  const std::string wa = FirstWorker(a);
  Reply running = WaitWorker(api(), wa, "RUNNING");
  ASSERT_EQ(running.Str({"status"}), "RUNNING") << Describe(running);
  const auto pid = static_cast<pid_t>(running.Int({"pid"}));
  ASSERT_EQ(api().Post("/api/supervisor/workers/" + wa + "/pause", "").status, 200u);
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 0)["used"], 0);
  const std::string b = Submit({"sleep", "60"});  // takes the freed slot
  ASSERT_EQ(WaitWorker(api(), FirstWorker(b), "RUNNING").Str({"status"}), "RUNNING");
  // Someone continues a's process by hand: it runs, so the record and the book follow.
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  Reply w = WaitWorker(api(), wa, "RUNNING");
  EXPECT_EQ(w.Str({"status"}), "RUNNING") << Describe(w);
  EXPECT_EQ(w.Str({"status_reason"}), "CONTINUED_EXTERNALLY");
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 0)["used"], 2);
  EXPECT_EQ(api().Post("/api/jobs/" + a + "/cancel", "{}").status, 200u);
  EXPECT_EQ(api().Post("/api/jobs/" + b + "/cancel", "{}").status, 200u);
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 0)["used"], 0);
}

TEST_F(ResourcesTest, RaisingAQuotaStartsTheJobsWaitingAndCancelLeavesTheQueue) {
  ASSERT_EQ(SetQuota(0, 1).status, 200u);
  const std::string holder = Submit({"sleep", "60"});
  ASSERT_EQ(WaitWorker(api(), FirstWorker(holder), "RUNNING").Str({"status"}), "RUNNING");
  const std::string a = Submit({"true"});
  const std::string b = Submit({"true"});
  EXPECT_EQ(api().Get("/api/jobs/" + a).Str({"status"}), "PENDING");
  Reply canceled = api().Post("/api/jobs/" + a + "/cancel", "{}");
  ASSERT_EQ(canceled.status, 200u) << Describe(canceled);
  EXPECT_EQ(canceled.Str({"status"}), "CANCELED");
  // Its IDLE worker is ended right after the job's cancel is written.
  EXPECT_EQ(WaitWorker(api(), FirstWorker(a), "TERMINATED").Str({"status"}), "TERMINATED");
  EXPECT_EQ(api().Get("/api/jobs/" + b).Str({"status"}), "PENDING");
  ASSERT_EQ(SetQuota(0, 2).status, 200u);
  EXPECT_EQ(WaitJob(api(), b, "COMPLETED").Str({"status"}), "COMPLETED");
  EXPECT_EQ(api().Post("/api/jobs/" + holder + "/cancel", "{}").status, 200u);
}

TEST_F(ResourcesTest, BadQuotaUpdatesAreRefusedAndNeedTheAdminScope) {
  auto put = [&](const std::string& body) {
    return api().Send("PUT", "/api/resources/quotas", body);
  };
  Reply deep = put(R"({"quotas":[{"depth":6,"max_workers":1}]})");
  EXPECT_TRUE(IsError(deep, 400, "INVALID_REQUEST"));
  EXPECT_EQ(deep.Int({"error", "details", "max_depth"}), 5) << deep.body;
  EXPECT_TRUE(IsError(put(R"({"quotas":[{"depth":0,"max_workers":-1}]})"), 400, "INVALID_REQUEST"));
  EXPECT_TRUE(IsError(put(R"({"quotas":[{"depth":0}]})"), 400, "INVALID_REQUEST"));
  EXPECT_TRUE(IsError(put(R"({"quotas":[]})"), 400, "INVALID_REQUEST"));
  EXPECT_TRUE(IsError(put(R"({"limits":[]})"), 400, "INVALID_REQUEST"));
  EXPECT_TRUE(
      IsError(put(R"({"quotas":[{"depth":0,"max_workers":1},{"depth":0,"max_workers":2}]})"), 400,
              "INVALID_REQUEST"));
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 0)["max_workers"], 10);
  TokenSpec reader;
  reader.workspace = ws();
  reader.scopes = {"resources:read"};
  Api ro(d().url(), d().Token(reader));
  EXPECT_EQ(ro.Get("/api/resources/quotas").status, 200u);
  Reply denied =
      ro.Send("PUT", "/api/resources/quotas", R"({"quotas":[{"depth":0,"max_workers":1}]})");
  EXPECT_TRUE(IsError(denied, 403, "INSUFFICIENT_SCOPE"));
  EXPECT_EQ(denied.Str({"error", "details", "required_scope"}), "resources:admin") << denied.body;
  EXPECT_TRUE(IsError(api().Send("DELETE", "/api/resources/quotas"), 405, "METHOD_NOT_ALLOWED"));
}

TEST_F(ResourcesTest, AJobThatCanNeverFitIsRefusedAtOnce) {
  ASSERT_EQ(SetQuota(0, 2).status, 200u);
  Reply r = api().Post("/api/jobs", CommandJob({"true"}, {{"worker_count", 3}}));
  EXPECT_TRUE(IsError(r, 409, "QUOTA_EXCEEDED"));
  EXPECT_EQ(r.Str({"error", "details", "field"}), "worker_count") << r.body;
  EXPECT_EQ(r.Int({"error", "details", "quota"}), 2) << r.body;
  EXPECT_EQ(r.Int({"error", "details", "used"}), 0) << r.body;
  EXPECT_EQ(r.Int({"error", "details", "requested"}), 3) << r.body;
  EXPECT_TRUE(api().Get("/api/jobs").At({"jobs"}).as_array().empty());
}

TEST_F(ResourcesTest, AllocateAndReleaseSlotsThroughTheApi) {
  ASSERT_EQ(SetQuota(1, 3).status, 200u);
  const std::string job = Submit({"sleep", "60"});
  const std::string worker = FirstWorker(job);
  ASSERT_EQ(WaitWorker(api(), worker, "RUNNING").Str({"status"}), "RUNNING");
  auto allocate = [&](int depth, int count) {
    return api().Post("/api/resources/allocate",
                      json::object{{"job_id", job}, {"depth", depth}, {"worker_count", count}});
  };
  Reply a = allocate(1, 2);
  ASSERT_EQ(a.status, 201u) << Describe(a);
  EXPECT_EQ(a.Str({"id"}).rfind("a_", 0), 0u) << a.body;
  EXPECT_EQ(a.Str({"job_id"}), job);
  EXPECT_TRUE(a.At({"worker_id"}).is_null()) << a.body;
  EXPECT_TRUE(a.At({"released_at"}).is_null()) << a.body;
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 1)["used"], 2);
  Reply over = allocate(1, 2);  // all or nothing
  EXPECT_TRUE(IsError(over, 409, "QUOTA_EXCEEDED"));
  EXPECT_EQ(over.Int({"error", "details", "used"}), 2) << over.body;
  Reply rel = api().Post("/api/resources/release", json::object{{"allocation_id", a.Str({"id"})}});
  ASSERT_EQ(rel.status, 200u) << Describe(rel);
  ASSERT_EQ(rel.At({"released"}).as_array().size(), 1u) << rel.body;
  EXPECT_FALSE(rel.At({"released"}).as_array()[0].at("released_at").is_null()) << rel.body;
  EXPECT_TRUE(
      IsError(api().Post("/api/resources/release", json::object{{"allocation_id", a.Str({"id"})}}),
              404, "NOT_FOUND"));
  ASSERT_EQ(allocate(1, 1).status, 201u);
  ASSERT_EQ(allocate(1, 1).status, 201u);
  Reply by_job = api().Post("/api/resources/release", json::object{{"job_id", job}});
  ASSERT_EQ(by_job.status, 200u) << Describe(by_job);
  EXPECT_EQ(by_job.At({"released"}).as_array().size(), 2u) << by_job.body;
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 1)["used"], 0);

  // The job's detail lists every allocation: its worker's and those made here.
  Reply detail = api().Get("/api/jobs/" + job);
  const json::array& allocs = detail.At({"allocations"}).as_array();
  ASSERT_EQ(allocs.size(), 4u) << detail.body;
  EXPECT_EQ(allocs[0].at("worker_id"), json::value(worker)) << detail.body;
  // A worker's slot is not released through the API.
  Reply theirs =
      api().Post("/api/resources/release", json::object{{"allocation_id", allocs[0].at("id")}});
  EXPECT_TRUE(IsError(theirs, 409, "INVALID_STATE_TRANSITION"));
  // What the job still holds is given back when it ends.
  ASSERT_EQ(allocate(1, 3).status, 201u);
  ASSERT_EQ(api().Post("/api/jobs/" + job + "/cancel", "{}").status, 200u);
  EXPECT_TRUE(WaitFor([&] {
    return QuotaRow(api().Get("/api/resources/quotas"), 1)["used"] == 0 &&
           QuotaRow(api().Get("/api/resources/quotas"), 0)["used"] == 0;
  }));
  EXPECT_TRUE(IsError(allocate(1, 1), 409, "INVALID_STATE_TRANSITION"));
  // Bad input.
  Reply unknown =
      api().Post("/api/resources/allocate",
                 json::object{{"job_id", "j_nosuchjob"}, {"depth", 1}, {"worker_count", 1}});
  EXPECT_TRUE(IsError(unknown, 400, "INVALID_REQUEST"));
  EXPECT_EQ(unknown.Str({"error", "details", "field"}), "job_id");
  EXPECT_TRUE(IsError(api().Post("/api/resources/allocate", json::object{{"job_id", job}}), 400,
                      "INVALID_REQUEST"));
  Reply both =
      api().Post("/api/resources/release", json::object{{"job_id", job}, {"allocation_id", "a_x"}});
  EXPECT_TRUE(IsError(both, 400, "INVALID_REQUEST"));
  EXPECT_TRUE(IsError(api().Post("/api/resources/release", "{}"), 400, "INVALID_REQUEST"));
}

// SPEC §1: another workspace's object answers 404, never a quiet success. A release by job_id
// of another workspace's job was answered 200 {"released":[]}, like a missing one.
TEST_F(ResourcesTest, ReleaseByJobIsA404ForAJobOfAnotherWorkspaceOrNone) {
  const std::string job = Submit({"sleep", "60"});
  ASSERT_EQ(WaitWorker(api(), FirstWorker(job), "RUNNING").Str({"status"}), "RUNNING");
  Reply held = api().Post("/api/resources/allocate",
                          json::object{{"job_id", job}, {"depth", 1}, {"worker_count", 1}});
  ASSERT_EQ(held.status, 201u) << Describe(held);

  Api other(d().url(), d().Token(ws() + "-other"));
  Reply theirs = other.Post("/api/resources/release", json::object{{"job_id", job}});
  EXPECT_TRUE(IsError(theirs, 404, "NOT_FOUND"));
  EXPECT_EQ(theirs.Str({"error", "details", "id"}), job) << theirs.body;
  // The same answer as for a job that does not exist at all.
  Reply none = other.Post("/api/resources/release", json::object{{"job_id", "j_nosuchjob"}});
  EXPECT_TRUE(IsError(none, 404, "NOT_FOUND"));
  EXPECT_EQ(none.Str({"error", "message"}), theirs.Str({"error", "message"}));
  EXPECT_TRUE(IsError(api().Post("/api/resources/release", json::object{{"job_id", "j_nosuchjob"}}),
                      404, "NOT_FOUND"));
  // Nothing of the owner's was released by the other workspace.
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 1)["used"], 1);

  // The owner releases it; a second release of its own job finds nothing held: 200, empty.
  Reply mine = api().Post("/api/resources/release", json::object{{"job_id", job}});
  ASSERT_EQ(mine.status, 200u) << Describe(mine);
  EXPECT_EQ(mine.At({"released"}).as_array().size(), 1u) << mine.body;
  Reply again = api().Post("/api/resources/release", json::object{{"job_id", job}});
  ASSERT_EQ(again.status, 200u) << Describe(again);
  EXPECT_TRUE(again.At({"released"}).as_array().empty()) << again.body;

  // A job that has ended (no longer live, read from the store) is still the owner's: 200.
  ASSERT_EQ(api().Post("/api/jobs/" + job + "/cancel", "{}").status, 200u);
  Reply ended = api().Post("/api/resources/release", json::object{{"job_id", job}});
  ASSERT_EQ(ended.status, 200u) << Describe(ended);
  EXPECT_TRUE(ended.At({"released"}).as_array().empty()) << ended.body;
  EXPECT_TRUE(IsError(other.Post("/api/resources/release", json::object{{"job_id", job}}), 404,
                      "NOT_FOUND"));
}

// The OpenAPI document's boundaries of the request bodies are the daemon's.
TEST_F(ResourcesTest, AllocateAndReleaseBodiesAreCheckedAsDocumented) {
  const std::string job = Submit({"sleep", "60"});
  auto allocate = [&](const json::object& body) {
    return api().Post("/api/resources/allocate", body);
  };
  // depth: 0..max_depth (5 here).
  Reply deep = allocate(json::object{{"job_id", job}, {"depth", 6}});
  EXPECT_TRUE(IsError(deep, 400, "INVALID_REQUEST"));
  EXPECT_EQ(deep.Str({"error", "details", "field"}), "depth") << deep.body;
  EXPECT_EQ(deep.Int({"error", "details", "max_depth"}), 5) << deep.body;
  Reply top = allocate(json::object{{"job_id", job}, {"depth", 5}});
  EXPECT_EQ(top.status, 201u) << Describe(top);
  // allocation_id: a_...; exactly one of allocation_id and job_id.
  for (const json::object& body :
       {json::object{{"allocation_id", "x_1"}}, json::object{{"allocation_id", ""}},
        json::object{{"allocation_id", top.Str({"id"})}, {"job_id", job}}, json::object{}}) {
    Reply r = api().Post("/api/resources/release", body);
    EXPECT_TRUE(IsError(r, 400, "INVALID_REQUEST")) << json::serialize(body);
  }
  EXPECT_EQ(
      api().Post("/api/resources/release", json::object{{"allocation_id", top.Str({"id"})}}).status,
      200u);
  ASSERT_EQ(api().Post("/api/jobs/" + job + "/cancel", "{}").status, 200u);
}

class DefaultQuotasFlagTest : public OwnDaemonTest {
 protected:
  DaemonOptions Options() override {
    return DaemonOptions{{"--default-quotas", "3,1", "--max-depth", "2"}};
  }
};

TEST_F(DefaultQuotasFlagTest, TheFlagSetsTheDefaultsAndDeeperDepthsRepeatTheLast) {
  Reply q = api().Get("/api/resources/quotas");
  ASSERT_EQ(q.status, 200u) << Describe(q);
  EXPECT_EQ(q.Int({"max_depth"}), 2);
  ASSERT_EQ(q.At({"quotas"}).as_array().size(), 3u) << q.body;
  EXPECT_EQ(QuotaRow(q, 0)["max_workers"], 3);
  EXPECT_EQ(QuotaRow(q, 1)["max_workers"], 1);
  EXPECT_EQ(QuotaRow(q, 2)["max_workers"], 1);
}

class ResourcesRestartTest : public OwnDaemonTest {};

TEST_F(ResourcesRestartTest, QuotasAndWaitingJobsSurviveARestart) {
  ASSERT_EQ(api()
                .Send("PUT", "/api/resources/quotas", R"({"quotas":[{"depth":0,"max_workers":1}]})")
                .status,
            200u);
  Reply a = api().Post("/api/jobs", CommandJob({"sleep", "60"}));
  ASSERT_EQ(a.status, 201u);
  Reply b = api().Post("/api/jobs", CommandJob({"true"}));
  ASSERT_EQ(b.status, 201u);
  EXPECT_EQ(b.Str({"status"}), "PENDING");
  d().Kill9();
  ASSERT_TRUE(d().Restart());
  Reconnect();
  EXPECT_EQ(QuotaRow(api().Get("/api/resources/quotas"), 0)["max_workers"], 1);
  // a's process died with the daemon (FAILED): its slot goes to b.
  EXPECT_EQ(WaitJob(api(), a.Str({"id"}), "FAILED").Str({"status"}), "FAILED");
  EXPECT_EQ(WaitJob(api(), b.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");
  EXPECT_EQ(api().Get("/api/resources/usage").Int({"total_used"}), 0);
}

TEST_F(ResourcesRestartTest, AGracefulStopLeavesWaitingJobsPendingForTheNextStart) {
  ASSERT_EQ(api()
                .Send("PUT", "/api/resources/quotas", R"({"quotas":[{"depth":0,"max_workers":1}]})")
                .status,
            200u);
  Reply a = api().Post("/api/jobs", CommandJob({"sleep", "60"}));
  ASSERT_EQ(a.status, 201u);
  Reply b = api().Post("/api/jobs", CommandJob({"true"}));
  ASSERT_EQ(b.status, 201u);
  EXPECT_EQ(b.Str({"status"}), "PENDING");
  const int st = d().Stop();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "wait status " << st;
  ASSERT_TRUE(d().Restart());
  Reconnect();
  EXPECT_EQ(api().Get("/api/jobs/" + a.Str({"id"})).Str({"status"}), "FAILED");
  EXPECT_EQ(WaitJob(api(), b.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");
}

}  // namespace
}  // namespace overseer::it
