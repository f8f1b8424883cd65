// Cross-cutting HTTP behaviour: request ids, health and readiness without a token, metrics.
#include "integration/fixture.h"

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
  // One job that ran to completion: its submit (one commit) and its exit were written.
  EXPECT_GE(m.Int({"counters", "commits"}), 2) << m.body;
  EXPECT_GE(m.Int({"counters", "commit_transactions"}), 1) << m.body;
  EXPECT_LE(m.Int({"counters", "commit_transactions"}), m.Int({"counters", "commits"})) << m.body;
  Api other(d().url(), d().Token(ws() + "-x"));
  Reply theirs = other.Get("/api/supervisor/metrics");
  ASSERT_EQ(theirs.status, 200u);
  EXPECT_EQ(theirs.Int({"workers_by_status", "COMPLETED"}), 0) << theirs.body;
}

TEST_F(HttpTest, KeepAliveServesManyRequestsOnOneClient) {
  for (int i = 0; i < 20; ++i) {
    Reply r = api().Get("/api/jobs?limit=1");
    ASSERT_EQ(r.status, 200u) << i << " " << Describe(r);
  }
}

}  // namespace
}  // namespace overseer::it
