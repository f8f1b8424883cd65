// Cross-cutting HTTP behaviour: request ids, health and readiness without a token, metrics.
#include "integration/fixture.h"
#include "integration/raw_socket.h"

namespace overseer::it {
namespace {
namespace json = boost::json;

class HttpTest : public SharedDaemonTest<HttpTest> {};

TEST_F(HttpTest, RequestIdIsEchoedWhenSentAndGeneratedOtherwise) {
  Reply r = api().Get("/api/jobs", {{"X-Request-ID", "it-req-12345"}});
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.Header("X-Request-ID"), "it-req-12345");

  Reply a = api().Get("/api/jobs");
  Reply b = api().Get("/api/jobs");
  EXPECT_FALSE(a.Header("X-Request-ID").empty());
  EXPECT_FALSE(b.Header("X-Request-ID").empty());
  EXPECT_NE(a.Header("X-Request-ID"), b.Header("X-Request-ID"));

  // Errors carry one too, also before authentication.
  Api anonymous(d().url(), "");
  Reply e = anonymous.Get("/api/jobs", {{"X-Request-ID", "it-req-unauth"}});
  EXPECT_TRUE(IsError(e, 401, "UNAUTHENTICATED"));
  EXPECT_EQ(e.Header("X-Request-ID"), "it-req-unauth");
  Reply nf = anonymous.Get("/no/such/route");
  EXPECT_EQ(nf.status, 404u);
  EXPECT_FALSE(nf.Header("X-Request-ID").empty());
}

TEST_F(HttpTest, HealthAndReadinessNeedNoToken) {
  Api anonymous(d().url(), "");
  Reply h = anonymous.Get("/healthz");
  EXPECT_EQ(h.status, 200u) << Describe(h);
  EXPECT_EQ(h.Header("Content-Type").rfind("application/json", 0), 0u);
  Reply r = anonymous.Get("/readyz");
  EXPECT_EQ(r.status, 200u) << Describe(r);
  EXPECT_EQ(r.Header("Content-Type").rfind("application/json", 0), 0u);
}

TEST_F(HttpTest, MetricsCountWorkersOfTheCallersWorkspace) {
  Reply job = api().Post("/api/jobs", CommandJob({"true"}));
  ASSERT_EQ(job.status, 201u) << Describe(job);
  ASSERT_EQ(WaitJob(api(), job.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");
  Reply m = api().Get("/api/supervisor/metrics");
  ASSERT_EQ(m.status, 200u) << Describe(m);
  EXPECT_EQ(m.Int({"workers_by_status", "COMPLETED"}), 1) << m.body;
  EXPECT_EQ(m.Int({"workers_by_status", "RUNNING"}), 0) << m.body;
  EXPECT_GE(m.Int({"uptime_seconds"}), 0);
  Api other(d().url(), d().Token(ws() + "-x"));
  Reply theirs = other.Get("/api/supervisor/metrics");
  ASSERT_EQ(theirs.status, 200u);
  EXPECT_EQ(theirs.Int({"workers_by_status", "COMPLETED"}), 0) << theirs.body;
}

// Counters are the workspace's own: a workspace token never learns another tenant's activity
// volume. The daemon-wide figures (with the commits) need the operator scope supervisor:admin.
TEST_F(HttpTest, MetricsCountersArePerWorkspaceAndDaemonWideOnlyForAnOperator) {
  Reply job = api().Post("/api/jobs", CommandJob({"true"}));
  ASSERT_EQ(job.status, 201u) << Describe(job);
  ASSERT_EQ(WaitJob(api(), job.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");
  Reply other_job = api().Post("/api/jobs", CommandJob({"false"}));
  ASSERT_EQ(other_job.status, 201u) << Describe(other_job);

  Reply mine;
  ASSERT_TRUE(WaitFor([&] {  // a program that is not there still starts (overseer-exec), then exits
    mine = api().Get("/api/supervisor/metrics");
    return mine.Int({"counters", "workers_exited"}) == 2;
  })) << mine.body;
  EXPECT_EQ(mine.Int({"counters", "jobs_submitted"}), 2) << mine.body;
  EXPECT_EQ(mine.Int({"counters", "workers_spawned"}), 2) << mine.body;
  EXPECT_EQ(mine.Int({"counters", "spawn_failures"}), 0) << mine.body;
  EXPECT_TRUE(mine.At({"daemon_counters"}).is_null()) << mine.body;
  EXPECT_TRUE(mine.At({"counters", "commits"}).is_null()) << mine.body;

  // Another workspace (another tenant, full workspace scopes) sees none of it.
  Api other(d().url(), d().Token(ws() + "-tenant"));
  Reply theirs = other.Get("/api/supervisor/metrics");
  ASSERT_EQ(theirs.status, 200u) << Describe(theirs);
  for (const char* c : {"jobs_submitted", "workers_spawned", "workers_exited", "spawn_failures"}) {
    EXPECT_EQ(theirs.Int({"counters", c}), 0) << c << " " << theirs.body;
  }
  EXPECT_TRUE(theirs.At({"daemon_counters"}).is_null()) << theirs.body;

  // An operator of that other workspace gets the daemon-wide figures besides its own (zeros).
  TokenSpec op;
  op.workspace = ws() + "-tenant";
  op.scopes = {"supervisor:read", "supervisor:admin"};
  Api oper(d().url(), d().Token(op));
  Reply all = oper.Get("/api/supervisor/metrics");
  ASSERT_EQ(all.status, 200u) << Describe(all);
  EXPECT_EQ(all.Int({"counters", "jobs_submitted"}), 0) << all.body;
  EXPECT_GE(all.Int({"daemon_counters", "jobs_submitted"}), 2) << all.body;
  EXPECT_GE(all.Int({"daemon_counters", "workers_spawned"}), 2) << all.body;
  EXPECT_GE(all.Int({"daemon_counters", "workers_exited"}), 2) << all.body;
  EXPECT_GE(all.Int({"daemon_counters", "spawn_failures"}), 0) << all.body;
  // Two jobs were submitted and their workers exited: at least four status changes written.
  EXPECT_GE(all.Int({"daemon_counters", "commits"}), 4) << all.body;
  EXPECT_GE(all.Int({"daemon_counters", "commit_transactions"}), 1) << all.body;
  EXPECT_LE(all.Int({"daemon_counters", "commit_transactions"}),
            all.Int({"daemon_counters", "commits"}))
      << all.body;
  // supervisor:admin alone does not open the route: supervisor:read is still needed.
  op.scopes = {"supervisor:admin"};
  Api admin_only(d().url(), d().Token(op));
  EXPECT_TRUE(IsError(admin_only.Get("/api/supervisor/metrics"), 403, "INSUFFICIENT_SCOPE"));
}

TEST_F(HttpTest, KeepAliveServesManyRequestsOnOneClient) {
  for (int i = 0; i < 20; ++i) {
    Reply r = api().Get("/api/jobs?limit=1");
    ASSERT_EQ(r.status, 200u) << i << " " << Describe(r);
  }
}

// Request smuggling (RFC 9112 §6.1, §6.3): an authenticated submit hidden in the body of a
// request whose framing an intermediary could read otherwise is never answered: the outer
// request gets 400 and the connection closes before the hidden one is read.
TEST_F(HttpTest, RequestHiddenInABodyIsNeverAnswered) {
  const std::string auth = "Authorization: Bearer " + api().token() + "\r\n";
  const std::string job = json::serialize(CommandJob({"true"}));
  const std::string hidden =
      "POST /api/jobs HTTP/1.1\r\nHost: x\r\n" + auth +
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(job.size()) +
      "\r\n\r\n" + job;
  const std::string length = "Content-Length: " + std::to_string(hidden.size()) + "\r\n";
  const std::vector<std::string> framings = {
      "Transfer-Encoding: identity\r\n",          "Transfer-Encoding: gzip\r\n",
      "Transfer-Encoding: chunked, identity\r\n", "Transfer-Encoding: xchunked\r\n" + length,
      "Transfer-Encoding: chunked\r\n" + length,  length + "Transfer-Encoding: chunked\r\n",
      "Content-Length: 0\r\n" + length,           "Transfer-Encoding:\r\n chunked\r\n",
  };
  for (const std::string& framing : framings) {
    SCOPED_TRACE(framing);
    RawConnection c(d().url());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.Send("POST /api/jobs HTTP/1.1\r\nHost: x\r\n" + auth +
                       "Content-Type: application/json\r\n" + framing + "\r\n" + hidden));
    std::optional<std::string> answer = c.ReadUntilClosed(10s);
    ASSERT_TRUE(answer) << "the connection stayed open after a framing error";
    EXPECT_EQ(answer->rfind("HTTP/1.1 400 ", 0), 0u) << *answer;
    EXPECT_NE(answer->find("\"code\":\"INVALID_REQUEST\""), std::string::npos) << *answer;
    EXPECT_NE(answer->find("Connection: close\r\n"), std::string::npos) << *answer;
    // One response: the hidden request got none.
    EXPECT_EQ(answer->find("HTTP/1.1 ", 1), std::string::npos) << *answer;
  }
  Reply jobs = api().Get("/api/jobs");
  ASSERT_EQ(jobs.status, 200u) << Describe(jobs);
  EXPECT_TRUE(jobs.At({"jobs"}).as_array().empty())
      << "a hidden submit created a job: " << jobs.body;

  // The same submit, well framed, is answered: the hidden requests were refused for their
  // framing alone.
  RawConnection ok(d().url());
  ASSERT_TRUE(
      ok.Send(hidden.substr(0, hidden.find("\r\n\r\n") + 2) + "Connection: close\r\n\r\n" + job));
  std::optional<std::string> created = ok.ReadUntilClosed(10s);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->rfind("HTTP/1.1 201 ", 0), 0u) << *created;
}

}  // namespace
}  // namespace overseer::it
