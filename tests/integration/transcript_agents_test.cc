// The transcript of real agent workers: the `claude` and `codex` CLIs (node_modules) run by the
// daemon against the scripted fake model servers (tests/fakes), one tool call each; the route
// answers what they did, parsed from their stream, and the CLI prints it.
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "integration/fake_model.h"
#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;

class AgentTranscriptTest : public SharedDaemonTest<AgentTranscriptTest> {
 public:
  static DaemonOptions Options() {
    DaemonOptions o;
    o.extra_args = {"--claude-bin", FakeModel::ClaudeBin(), "--codex-bin", FakeModel::CodexBin()};
    return o;
  }

 protected:
  // Runs the agent job to its end; its worker id ("" on failure, with the test failed).
  std::string RunAgent(const json::object& task) {
    Reply r = api().Post("/api/jobs", json::object{{"name", "agent"}, {"task", task}});
    EXPECT_EQ(r.status, 201u) << Describe(r);
    std::vector<std::string> ids = WorkerIds(api(), r.Str({"id"}));
    EXPECT_EQ(ids.size(), 1u);
    if (ids.empty()) return "";
    Reply w = WaitWorker(api(), ids[0], "COMPLETED", 60s);
    EXPECT_EQ(w.Str({"status"}), "COMPLETED")
        << Describe(w) << "\nlog:\n"
        << api().Get("/api/supervisor/workers/" + ids[0] + "/logs").body;
    return ids[0];
  }

  static std::vector<std::string> Kinds(const Reply& r) {
    std::vector<std::string> out;
    for (const json::value& e : r.At({"entries"}).as_array()) {
      out.emplace_back(e.as_object().at("kind").as_string());
    }
    return out;
  }
};

TEST_F(AgentTranscriptTest, ClaudeToolCallItsResultAndTheAnswer) {
  ASSERT_EQ(::access(FakeModel::ClaudeBin().c_str(), X_OK), 0)
      << "no claude CLI in node_modules: make deps";
  FakeModel fake(FakeModel::Kind::kAnthropic, json::parse(R"({"turns":[
                   {"type":"tool_use","name":"Bash","text":"I will run it.",
                    "input":{"command":"echo hi","description":"Print hi"}},
                   {"type":"text","text":"The command printed hi."}]})"));
  ASSERT_TRUE(fake.running());
  json::object task{{"runtime", "claude"},
                    {"prompt", "run echo hi"},
                    {"allowed_tools", json::array{"Bash"}},
                    {"env", fake.ClaudeEnv()}};
  const std::string wid = RunAgent(task);
  ASSERT_FALSE(wid.empty());
  Reply t = api().Get("/api/supervisor/workers/" + wid + "/transcript");
  ASSERT_EQ(t.status, 200u) << Describe(t);
  ASSERT_EQ(Kinds(t),
            (std::vector<std::string>{"text", "tool_call", "tool_result", "text", "result"}))
      << t.body;
  const json::array& es = t.At({"entries"}).as_array();
  EXPECT_EQ(es[0].at("text"), "I will run it.");
  EXPECT_EQ(es[1].at("tool"), "Bash");
  EXPECT_EQ(es[1].at("input"), json::parse(R"({"command":"echo hi","description":"Print hi"})"));
  EXPECT_EQ(es[2].at("text"), "hi");
  EXPECT_EQ(es[2].at("is_error"), false);
  EXPECT_EQ(es[4].at("text"), "The command printed hi.");
  EXPECT_EQ(es[4].at("is_error"), false);

  Reply last = api().Get("/api/supervisor/workers/" + wid + "/transcript?tail=1");
  ASSERT_EQ(last.status, 200u);
  EXPECT_EQ(Kinds(last), (std::vector<std::string>{"result"}));
}

TEST_F(AgentTranscriptTest, CodexCommandExecutionAndTheAnswer) {
  ASSERT_EQ(::access(FakeModel::CodexBin().c_str(), X_OK), 0)
      << "no codex CLI in node_modules: make deps";
  FakeModel fake(FakeModel::Kind::kOpenAiResponses, json::parse(R"({"turns":[
                   {"type":"custom_tool_call","name":"exec",
                    "input":"text(await tools.exec_command({cmd: \"echo hi\"}));"},
                   {"type":"text","text":"The command printed hi."}]})"));
  ASSERT_TRUE(fake.running());
  json::object env = fake.CodexEnv();
  // The worker's inherited HOME comes first in its environment: name the config dir itself.
  env["CODEX_HOME"] = std::string(env.at("HOME").as_string()) + "/.codex";
  json::object task{{"runtime", "codex"}, {"prompt", "run echo hi"}, {"env", env}};
  const std::string wid = RunAgent(task);
  ASSERT_FALSE(wid.empty());
  Reply t = api().Get("/api/supervisor/workers/" + wid + "/transcript");
  ASSERT_EQ(t.status, 200u) << Describe(t);
  ASSERT_EQ(Kinds(t), (std::vector<std::string>{"tool_call", "tool_result", "text", "result"}))
      << t.body;
  const json::array& es = t.At({"entries"}).as_array();
  EXPECT_EQ(es[0].at("tool"), "command");
  EXPECT_NE(json::serialize(es[0].at("input")).find("echo hi"), std::string::npos) << t.body;
  // (bash -lc: a login shell's profile may print before the command does.)
  const std::string output(es[1].at("text").as_string());
  EXPECT_EQ(output.substr(output.size() - std::min<size_t>(output.size(), 3)), "hi\n") << output;
  EXPECT_EQ(es[1].at("is_error"), false);
  EXPECT_EQ(es[3].at("text"), "The command printed hi.");
}

}  // namespace
}  // namespace overseer::it
