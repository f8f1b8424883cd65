// What a client sees when it gets something wrong: status codes and SPEC §4 error bodies
// for bad input, authentication, authorization, unknown objects and routes, state conflicts,
// payload limits and the depth limit.
#include <string>

#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;

class ErrorsTest : public SharedDaemonTest<ErrorsTest> {
 protected:
  // POST /api/jobs with `body`; expects 400 INVALID_REQUEST naming `field`.
  void ExpectInvalid(const std::string& body, const std::string& field) {
    Reply r = api().Post("/api/jobs", body);
    EXPECT_TRUE(IsError(r, 400, "INVALID_REQUEST")) << "body: " << body.substr(0, 200);
    EXPECT_EQ(r.Str({"error", "details", "field"}), field) << r.body;
  }
  void ExpectInvalid(const json::object& body, const std::string& field) {
    ExpectInvalid(json::serialize(body), field);
  }
  void ExpectInvalidGet(const std::string& target, const std::string& field) {
    Reply r = api().Get(target);
    EXPECT_TRUE(IsError(r, 400, "INVALID_REQUEST")) << target;
    EXPECT_EQ(r.Str({"error", "details", "field"}), field) << target << " " << r.body;
  }
  std::string StartWorker(const std::vector<std::string>& argv, std::string* job_id = nullptr) {
    Reply r = api().Post("/api/jobs", CommandJob(argv));
    EXPECT_EQ(r.status, 201u) << Describe(r);
    if (job_id != nullptr) *job_id = r.Str({"id"});
    std::vector<std::string> ids = WorkerIds(api(), r.Str({"id"}));
    return ids.empty() ? std::string() : ids[0];
  }
};

const json::object kTask{{"runtime", "command"}, {"command", json::array{"true"}}};

TEST_F(ErrorsTest, MalformedJsonIs400) {
  Reply r = api().Post("/api/jobs", std::string(R"({"task": {)"));
  EXPECT_TRUE(IsError(r, 400, "INVALID_REQUEST"));
  r = api().Post("/api/jobs", std::string("[1,2]"));
  EXPECT_TRUE(IsError(r, 400, "INVALID_REQUEST"));
  r = api().Post("/api/supervisor/workers/w_0000000000000000000000000000/terminate",
                 std::string("{nope"));
  EXPECT_TRUE(IsError(r, 400, "INVALID_REQUEST"));
}

TEST_F(ErrorsTest, UnknownFieldsAreNamed) {
  ExpectInvalid(json::object{{"task", kTask}, {"bogus", 1}}, "bogus");
  json::object task = kTask;
  task["shell"] = true;
  ExpectInvalid(json::object{{"task", task}}, "task.shell");
  ExpectInvalid(json::object{{"task", kTask}, {"retry", json::object{{"tries", 2}}}},
                "retry.tries");
  ExpectInvalid(json::object{{"task", kTask}, {"pid", 42}}, "pid");
  // A missing task, too.
  ExpectInvalid(json::object{{"name", "x"}}, "task");
}

TEST_F(ErrorsTest, ReadOnlyFieldsAreRefused) {
  ExpectInvalid(json::object{{"task", kTask}, {"workspace_id", "someone-else"}}, "workspace_id");
  ExpectInvalid(json::object{{"task", kTask}, {"status", "COMPLETED"}}, "status");
  ExpectInvalid(json::object{{"task", kTask}, {"id", "j_123"}}, "id");
  // A root job is at depth 0: any other depth is refused.
  ExpectInvalid(json::object{{"task", kTask}, {"depth", 1}}, "depth");
  // Nothing was created by any of these.
  Reply list = api().Get("/api/jobs");
  ASSERT_EQ(list.status, 200u);
  EXPECT_TRUE(list.At({"jobs"}).as_array().empty()) << list.body;
}

TEST_F(ErrorsTest, WrongTypesAreNamed) {
  ExpectInvalid(json::object{{"task", kTask}, {"name", 5}}, "name");
  ExpectInvalid(json::object{{"task", kTask}, {"worker_count", "3"}}, "worker_count");
  ExpectInvalid(json::object{{"task", kTask}, {"timeout_seconds", "soon"}}, "timeout_seconds");
  ExpectInvalid(json::object{{"task", kTask}, {"metadata", json::array{1}}}, "metadata");
  ExpectInvalid(json::object{{"task", json::object{{"runtime", "command"}, {"command", "ls -l"}}}},
                "task.command");
  ExpectInvalid(json::object{{"task", json::object{{"runtime", "command"},
                                                   {"command", json::array{"ls", 1}}}}},
                "task.command");
  ExpectInvalid(json::object{{"task", "true"}}, "task");
  Reply r = api().Post("/api/supervisor/workers/w_0000000000000000000000000000/terminate",
                       std::string(R"({"grace_seconds":"5"})"));
  EXPECT_TRUE(IsError(r, 400, "INVALID_REQUEST"));
  EXPECT_EQ(r.Str({"error", "details", "field"}), "grace_seconds");
}

TEST_F(ErrorsTest, OverLimitInputIsRefused) {
  ExpectInvalid(json::object{{"task", kTask}, {"name", std::string(129, 'n')}}, "name");
  json::array argv;
  for (int i = 0; i < 257; ++i) argv.emplace_back("a");
  ExpectInvalid(json::object{{"task", json::object{{"runtime", "command"}, {"command", argv}}}},
                "task.command");
  json::object env;
  for (int i = 0; i < 129; ++i) env["V" + std::to_string(i)] = "x";
  json::object task = kTask;
  task["env"] = env;
  ExpectInvalid(json::object{{"task", task}}, "task.env");
  ExpectInvalid(json::object{{"task", kTask},
                             {"metadata", json::object{{"blob", std::string(17 * 1024, 'm')}}}},
                "metadata");
  ExpectInvalid(json::object{{"task", kTask}, {"worker_count", 0}}, "worker_count");
  ExpectInvalidGet("/api/jobs?limit=1001", "limit");
  ExpectInvalidGet("/api/jobs?limit=0", "limit");
  ExpectInvalidGet("/api/supervisor/workers?limit=abc", "limit");
  ExpectInvalidGet("/api/supervisor/workers/w_0000000000000000000000000000/logs?tail=10001",
                   "tail");
}

TEST_F(ErrorsTest, BadCursorIs400) {
  ExpectInvalidGet("/api/jobs?cursor=not-a-cursor!", "cursor");
  ExpectInvalidGet("/api/jobs?cursor=AAAA", "cursor");
  ExpectInvalidGet("/api/supervisor/workers?cursor=zzzz", "cursor");
  ExpectInvalidGet("/api/jobs?status=DONE", "status");
  ExpectInvalidGet("/api/jobs?colour=red", "colour");
}

TEST_F(ErrorsTest, MissingOrInvalidTokensAre401WithBearerChallenge) {
  struct Case {
    const char* what;
    std::string token;
  };
  const std::vector<Case> cases = {
      {"no token", ""},
      {"garbage", "not.a.jwt"},
      {"expired", d().ExpiredToken(ws())},
      {"not yet valid", d().NotYetValidToken(ws())},
      {"wrong signature", d().WronglySignedToken(ws())},
      {"alg none", d().AlgNoneToken(ws())},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Api client(d().url(), c.token);
    for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
             {"GET", "/api/jobs"}, {"POST", "/api/jobs"}, {"GET", "/api/supervisor/workers"}}) {
      Reply r =
          method == "GET" ? client.Get(target) : client.Post(target, json::object{{"task", kTask}});
      EXPECT_TRUE(IsError(r, 401, "UNAUTHENTICATED")) << method << " " << target;
      EXPECT_EQ(r.Header("WWW-Authenticate").rfind("Bearer", 0), 0u)
          << r.Header("WWW-Authenticate");
    }
  }
  // A non-Bearer scheme, too.
  Api plain(d().url(), "");
  Reply r = plain.Get("/api/jobs", {{"Authorization", "Basic dXNlcjpwYXNz"}});
  EXPECT_TRUE(IsError(r, 401, "UNAUTHENTICATED"));
  // Nothing was created by any of them.
  Reply list = api().Get("/api/jobs");
  EXPECT_TRUE(list.At({"jobs"}).as_array().empty()) << list.body;
}

TEST_F(ErrorsTest, MissingScopeIs403NamingIt) {
  TokenSpec spec;
  spec.workspace = ws();
  spec.scopes = {"jobs:read", "supervisor:read"};
  Api reader(d().url(), d().Token(spec));
  Reply r = reader.Post("/api/jobs", json::object{{"task", kTask}});
  EXPECT_TRUE(IsError(r, 403, "INSUFFICIENT_SCOPE"));
  EXPECT_EQ(r.Str({"error", "details", "required_scope"}), "jobs:write");
  EXPECT_EQ(reader.Get("/api/jobs").status, 200u);

  const std::string wid = StartWorker({"sleep", "60"});
  r = reader.Post("/api/supervisor/workers/" + wid + "/pause", std::string());
  EXPECT_TRUE(IsError(r, 403, "INSUFFICIENT_SCOPE"));
  EXPECT_EQ(r.Str({"error", "details", "required_scope"}), "supervisor:write");

  spec.scopes = {"jobs:write"};
  Api writer(d().url(), d().Token(spec));
  r = writer.Get("/api/supervisor/workers/" + wid);
  EXPECT_TRUE(IsError(r, 403, "INSUFFICIENT_SCOPE"));
  EXPECT_EQ(r.Str({"error", "details", "required_scope"}), "supervisor:read");
  EXPECT_EQ(api().Post("/api/supervisor/workers/" + wid + "/terminate", std::string()).status,
            200u);
}

TEST_F(ErrorsTest, AFinishedWorkerServedFromMemoryStaysInItsWorkspace) {
  // A finished worker's GET is answered from the daemon's caches after the first read: the
  // same answer each time, and still a 404 for another workspace.
  const std::string wid = StartWorker({"true"});
  ASSERT_FALSE(wid.empty());
  Reply done = WaitWorker(api(), wid, "COMPLETED");
  ASSERT_EQ(done.Str({"status"}), "COMPLETED") << Describe(done);
  Reply first = api().Get("/api/supervisor/workers/" + wid);
  Reply second = api().Get("/api/supervisor/workers/" + wid);
  ASSERT_EQ(first.status, 200u);
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(first.At({"transitions"}).as_array().size(), 3u);  // created, spawned, exited
  Api other(d().url(), d().Token(ws() + "-other"));
  EXPECT_TRUE(IsError(other.Get("/api/supervisor/workers/" + wid), 404, "NOT_FOUND"));
  EXPECT_EQ(api().Get("/api/supervisor/workers/" + wid).body, first.body);
}

TEST_F(ErrorsTest, UnknownAndForeignIdsAreIndistinguishable404s) {
  std::string job_id;
  const std::string wid = StartWorker({"sleep", "60"}, &job_id);
  ASSERT_FALSE(wid.empty());
  // Another workspace, with every scope.
  Api other(d().url(), d().Token(ws() + "-other"));
  const std::string missing_w = "w_0000000000000000000000000000";
  const std::string missing_j = "j_0000000000000000000000000000";

  for (const auto& [mine, absent] : std::vector<std::pair<std::string, std::string>>{
           {"/api/supervisor/workers/" + wid, "/api/supervisor/workers/" + missing_w},
           {"/api/supervisor/workers/" + wid + "/logs",
            "/api/supervisor/workers/" + missing_w + "/logs"},
           {"/api/jobs/" + job_id, "/api/jobs/" + missing_j}}) {
    Reply foreign = other.Get(mine);
    Reply none = other.Get(absent);
    EXPECT_TRUE(IsError(foreign, 404, "NOT_FOUND")) << mine;
    EXPECT_TRUE(IsError(none, 404, "NOT_FOUND")) << absent;
    EXPECT_EQ(foreign.Str({"error", "message"}), none.Str({"error", "message"}));
    EXPECT_EQ(foreign.At({"error", "details"}), none.At({"error", "details"}));
  }
  for (const char* action : {"pause", "resume", "terminate"}) {
    Reply foreign = other.Post("/api/supervisor/workers/" + wid + "/" + action, std::string());
    Reply none = other.Post("/api/supervisor/workers/" + missing_w + "/" + action, std::string());
    EXPECT_TRUE(IsError(foreign, 404, "NOT_FOUND")) << action;
    EXPECT_TRUE(IsError(none, 404, "NOT_FOUND")) << action;
    EXPECT_EQ(foreign.Str({"error", "message"}), none.Str({"error", "message"}));
  }
  // The foreign calls changed nothing.
  EXPECT_EQ(api().Get("/api/supervisor/workers/" + wid).Str({"status"}), "RUNNING");
  // Not in the other workspace's lists either.
  EXPECT_TRUE(other.Get("/api/jobs").At({"jobs"}).as_array().empty());
  EXPECT_TRUE(other.Get("/api/supervisor/workers").At({"workers"}).as_array().empty());

  // Malformed ids name nothing.
  EXPECT_TRUE(IsError(api().Get("/api/supervisor/workers/nope"), 404, "NOT_FOUND"));
  EXPECT_TRUE(IsError(api().Get("/api/jobs/" + wid), 404, "NOT_FOUND"));  // a worker id
  EXPECT_TRUE(IsError(api().Get("/api/jobs/j_" + std::string(40, 'a')), 404, "NOT_FOUND"));
  EXPECT_EQ(api().Post("/api/supervisor/workers/" + wid + "/terminate", std::string()).status,
            200u);
}

TEST_F(ErrorsTest, UnknownRouteIs404AndWrongMethodIs405WithAllow) {
  EXPECT_TRUE(IsError(api().Get("/api/nothing-here"), 404, "NOT_FOUND"));
  EXPECT_TRUE(IsError(api().Get("/nothing"), 404, "NOT_FOUND"));
  Reply r = api().Send("DELETE", "/api/jobs");
  EXPECT_TRUE(IsError(r, 405, "METHOD_NOT_ALLOWED"));
  const std::string allow = r.Header("Allow");
  EXPECT_NE(allow.find("GET"), std::string::npos) << allow;
  EXPECT_NE(allow.find("POST"), std::string::npos) << allow;
  r = api().Send("PUT", "/api/supervisor/workers/w_0000000000000000000000000000");
  EXPECT_TRUE(IsError(r, 405, "METHOD_NOT_ALLOWED"));
  EXPECT_NE(r.Header("Allow").find("GET"), std::string::npos);
}

TEST_F(ErrorsTest, PausingACompletedWorkerIs409WithStates) {
  std::string job_id;
  const std::string wid = StartWorker({"true"}, &job_id);
  ASSERT_EQ(WaitWorker(api(), wid, "COMPLETED").Str({"status"}), "COMPLETED");
  Reply r = api().Post("/api/supervisor/workers/" + wid + "/pause", std::string());
  ASSERT_TRUE(IsError(r, 409, "INVALID_STATE_TRANSITION"));
  EXPECT_EQ(r.Str({"error", "details", "worker_id"}), wid);
  EXPECT_EQ(r.Str({"error", "details", "current_state"}), "COMPLETED");
  EXPECT_EQ(r.Str({"error", "details", "requested_state"}), "PAUSED");
  r = api().Post("/api/supervisor/workers/" + wid + "/resume", std::string());
  EXPECT_TRUE(IsError(r, 409, "INVALID_STATE_TRANSITION"));
  r = api().Post("/api/supervisor/workers/" + wid + "/terminate", std::string());
  EXPECT_TRUE(IsError(r, 409, "INVALID_STATE_TRANSITION"));
  EXPECT_EQ(r.Str({"error", "details", "requested_state"}), "TERMINATED");
}

TEST_F(ErrorsTest, ResumingARunningWorkerIs409) {
  const std::string wid = StartWorker({"sleep", "60"});
  ASSERT_EQ(WaitWorker(api(), wid, "RUNNING").Str({"status"}), "RUNNING");
  Reply r = api().Post("/api/supervisor/workers/" + wid + "/resume", std::string());
  EXPECT_TRUE(IsError(r, 409, "INVALID_STATE_TRANSITION"));
  EXPECT_EQ(r.Str({"error", "details", "current_state"}), "RUNNING");
  EXPECT_EQ(api().Post("/api/supervisor/workers/" + wid + "/terminate", std::string()).status,
            200u);
}

TEST_F(ErrorsTest, BodyOverOneMebibyteIs413) {
  json::object job{{"task", kTask},
                   {"metadata", json::object{{"x", std::string((1 << 20) + 64, 'x')}}}};
  Reply r = api().Post("/api/jobs", job);
  EXPECT_TRUE(IsError(r, 413, "PAYLOAD_TOO_LARGE"));
  // The daemon still answers afterwards.
  Api fresh(d().url(), d().Token(ws()));
  EXPECT_EQ(fresh.Get("/api/jobs").status, 200u);
  EXPECT_TRUE(fresh.Get("/api/jobs").At({"jobs"}).as_array().empty());
}

TEST_F(ErrorsTest, NonJsonContentTypeIs415) {
  Reply r = api().Post("/api/jobs", json::serialize(json::object{{"task", kTask}}),
                       {{"Content-Type", "text/plain"}});
  EXPECT_TRUE(IsError(r, 415, "UNSUPPORTED_MEDIA_TYPE"));
  EXPECT_TRUE(api().Get("/api/jobs").At({"jobs"}).as_array().empty());
}

class MaxDepthTest : public OwnDaemonTest {
 protected:
  DaemonOptions Options() override { return DaemonOptions{{"--max-depth", "1"}}; }
};

TEST_F(MaxDepthTest, AJobDeeperThanMaxDepthIs422) {
  // Parents that still run (a finished parent takes no more children).
  Reply root = api().Post("/api/jobs", CommandJob({"sleep", "60"}));
  ASSERT_EQ(root.status, 201u) << Describe(root);
  Reply child =
      api().Post("/api/jobs",
                 CommandJob({"sleep", "60"}, {{"parent_job_id", root.Str({"id"})}, {"depth", 1}}));
  ASSERT_EQ(child.status, 201u) << Describe(child);
  EXPECT_EQ(child.Int({"depth"}), 1);
  EXPECT_EQ(child.Str({"parent_job_id"}), root.Str({"id"}));
  Reply grandchild =
      api().Post("/api/jobs", CommandJob({"true"}, {{"parent_job_id", child.Str({"id"})}}));
  EXPECT_TRUE(IsError(grandchild, 422, "MAX_DEPTH_EXCEEDED"));
  EXPECT_EQ(grandchild.Int({"error", "details", "max_depth"}), 1) << grandchild.body;
  // A wrong explicit depth under a real parent is a 400.
  Reply wrong = api().Post(
      "/api/jobs", CommandJob({"true"}, {{"parent_job_id", root.Str({"id"})}, {"depth", 3}}));
  EXPECT_TRUE(IsError(wrong, 400, "INVALID_REQUEST"));
  EXPECT_EQ(wrong.Str({"error", "details", "field"}), "depth");
  // An unknown parent is named.
  Reply orphan = api().Post(
      "/api/jobs", CommandJob({"true"}, {{"parent_job_id", "j_0000000000000000000000000000"}}));
  EXPECT_TRUE(IsError(orphan, 400, "INVALID_REQUEST"));
  EXPECT_EQ(orphan.Str({"error", "details", "field"}), "parent_job_id");
  Reply list = api().Get("/api/jobs");
  EXPECT_EQ(list.At({"jobs"}).as_array().size(), 2u) << list.body;
}

}  // namespace
}  // namespace overseer::it
