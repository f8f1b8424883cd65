// GET /api/supervisor/workers/{id}/transcript against the real daemon: a command worker's
// output lines come back as text entries (oldest first, the last `tail` of them), and the
// route checks its query, its scope and the workspace like the logs route.
#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;

class TranscriptTest : public SharedDaemonTest<TranscriptTest> {
 protected:
  // Runs `script` to completion; its worker id.
  std::string RunToCompletion(const std::string& script) {
    Reply r = api().Post("/api/jobs", CommandJob(Sh(script)));
    EXPECT_EQ(r.status, 201u) << Describe(r);
    std::vector<std::string> ids = WorkerIds(api(), r.Str({"id"}));
    EXPECT_EQ(ids.size(), 1u);
    if (ids.empty()) return "";
    EXPECT_EQ(WaitWorker(api(), ids[0], "COMPLETED").Str({"status"}), "COMPLETED");
    return ids[0];
  }

  static std::vector<std::string> Texts(const Reply& r) {
    std::vector<std::string> out;
    for (const json::value& e : r.At({"entries"}).as_array()) {
      const json::object& o = e.as_object();
      EXPECT_EQ(o.at("kind"), "text") << json::serialize(o);
      out.emplace_back(o.at("text").as_string());
    }
    return out;
  }
};

TEST_F(TranscriptTest, CommandOutputLinesAreTextEntries) {
  const std::string wid = RunToCompletion(
      "echo one; echo two >&2; echo '{\"type\":\"result\",\"result\":\"not parsed\"}'; "
      "printf 'no newline'");
  ASSERT_FALSE(wid.empty());
  Reply r = api().Get("/api/supervisor/workers/" + wid + "/transcript");
  ASSERT_EQ(r.status, 200u) << Describe(r);
  EXPECT_EQ(r.Header("Content-Type").rfind("application/json", 0), 0u);
  // A command's lines are text, whatever they look like (only agent runtimes are parsed).
  EXPECT_EQ(Texts(r),
            (std::vector<std::string>{"one", "two", R"({"type":"result","result":"not parsed"})",
                                      "no newline"}));

  Reply tail = api().Get("/api/supervisor/workers/" + wid + "/transcript?tail=2");
  ASSERT_EQ(tail.status, 200u) << Describe(tail);
  EXPECT_EQ(Texts(tail),
            (std::vector<std::string>{R"({"type":"result","result":"not parsed"})", "no newline"}));
}

TEST_F(TranscriptTest, ManyLinesKeepTheLastAndLongOnesAreCut) {
  const std::string wid = RunToCompletion(
      "i=1; while [ $i -le 1500 ]; do echo line$i; i=$((i+1)); done; "
      "head -c 20000 /dev/zero | tr '\\0' x; echo");
  ASSERT_FALSE(wid.empty());
  Reply r = api().Get("/api/supervisor/workers/" + wid + "/transcript");
  ASSERT_EQ(r.status, 200u) << Describe(r);
  std::vector<std::string> texts = Texts(r);
  ASSERT_EQ(texts.size(), 100u);  // the default tail
  EXPECT_EQ(texts.front(), "line1402");
  EXPECT_EQ(texts[98], "line1500");
  EXPECT_EQ(texts.back().substr(0, 10), "xxxxxxxxxx");
  EXPECT_EQ(texts.back().size(), 8 * 1024 + std::string("…[truncated]").size());
  EXPECT_EQ(texts.back().substr(8 * 1024), "…[truncated]");

  Reply max = api().Get("/api/supervisor/workers/" + wid + "/transcript?tail=1000");
  ASSERT_EQ(max.status, 200u) << Describe(max);
  EXPECT_EQ(max.At({"entries"}).as_array().size(), 1000u);
}

TEST_F(TranscriptTest, EmptyBeforeAnyOutput) {
  Reply r = api().Post("/api/jobs", CommandJob({"sleep", "60"}));
  ASSERT_EQ(r.status, 201u) << Describe(r);
  std::vector<std::string> ids = WorkerIds(api(), r.Str({"id"}));
  ASSERT_EQ(ids.size(), 1u);
  Reply t = api().Get("/api/supervisor/workers/" + ids[0] + "/transcript");
  ASSERT_EQ(t.status, 200u) << Describe(t);
  EXPECT_EQ(json::serialize(t.At({})), R"({"entries":[]})");
  EXPECT_EQ(api().Post("/api/supervisor/workers/" + ids[0] + "/terminate", "{}").status, 200u);
}

TEST_F(TranscriptTest, BadTailUnknownQueryAndOtherWorkspaceAreRefused) {
  const std::string wid = RunToCompletion("echo hi");
  ASSERT_FALSE(wid.empty());
  const std::string path = "/api/supervisor/workers/" + wid + "/transcript";
  for (const char* q : {"?tail=0", "?tail=1001", "?tail=x", "?tail=-1", "?lines=3"}) {
    EXPECT_TRUE(IsError(api().Get(path + q), 400, "INVALID_REQUEST")) << q;
  }
  EXPECT_TRUE(
      IsError(api().Get("/api/supervisor/workers/w_nosuchworker/transcript"), 404, "NOT_FOUND"));
  EXPECT_TRUE(IsError(api().Get("/api/supervisor/workers/not-an-id/transcript"), 404, "NOT_FOUND"));
  // Another workspace does not see the worker.
  Api other(d().url(), d().Token(ws() + "-other"));
  EXPECT_TRUE(IsError(other.Get(path), 404, "NOT_FOUND"));
  // The read scope is needed.
  TokenSpec spec;
  spec.workspace = ws();
  spec.scopes = {"jobs:write"};
  Api writer(d().url(), d().Token(spec));
  EXPECT_TRUE(IsError(writer.Get(path), 403, "INSUFFICIENT_SCOPE"));
  spec.scopes = {"supervisor:read"};
  Api reader(d().url(), d().Token(spec));
  Reply ok = reader.Get(path);
  ASSERT_EQ(ok.status, 200u) << Describe(ok);
  EXPECT_EQ(Texts(ok), (std::vector<std::string>{"hi"}));
}

}  // namespace
}  // namespace overseer::it
