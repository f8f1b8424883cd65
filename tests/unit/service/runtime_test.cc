#include "service/runtime.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/parse.hpp>

namespace overseer::service {
namespace {

namespace json = boost::json;

Result<Task> ParseTask(const Runtimes& r, std::string_view text) {
  return r.Parse(json::parse(text));
}

AttemptContext Attempt() {
  AttemptContext c;
  c.unit_name = "w_1";
  c.log_path = "/l/w_1.log";
  c.log_max_bytes = 99;
  c.base_env = {"PATH=/bin"};
  return c;
}

std::string FieldOf(const Error& e) {
  for (const auto& [k, v] : e.details) {
    if (k == "field") return std::get<std::string>(v);
  }
  return "";
}

TEST(RuntimesTest, ACommandTaskIsParsedOnceIntoItsCanonicalForm) {
  Runtimes r;
  Result<Task> t =
      ParseTask(r, R"({"env":{"A":"1"},"runtime":"command","command":["echo","hi"],"cwd":"/tmp"})");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->runtime, "command");
  EXPECT_EQ(t->argv, (std::vector<std::string>{"echo", "hi"}));
  EXPECT_EQ(t->cwd, "/tmp");
  EXPECT_EQ(t->canonical_json,
            R"({"runtime":"command","env":{"A":"1"},"command":["echo","hi"],"cwd":"/tmp"})");
  // A stored task comes back the same.
  Result<Task> again = r.ParseStored(t->canonical_json);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->canonical_json, t->canonical_json);
}

TEST(RuntimesTest, TheDomainRulesNameTheField) {
  Runtimes r;
  struct Case {
    const char* task;
    const char* field;
  } cases[] = {
      {R"({"command":["x"]})", "task.runtime"},
      {R"({"runtime":"claude"})", "task.prompt"},
      {R"({"runtime":"claude","prompt":""})", "task.prompt"},
      {R"({"runtime":"claude","prompt":"hi","max_turns":0})", "task.max_turns"},
      {R"({"runtime":"claude","prompt":"hi","allowed_tools":["Bash,Read"]})", "task.allowed_tools"},
      {R"({"runtime":"claude","prompt":"hi","permission_mode":"yolo"})", "task.permission_mode"},
      {R"({"runtime":"claude","prompt":"hi","sandbox":"read-only"})", "task.sandbox"},
      {R"({"runtime":"claude","prompt":"hi","command":["x"]})", "task.command"},
      {R"({"runtime":"claude","prompt":"hi","env":{"OVERSEER_URL":"x"}})", "task.env"},
      {R"({"runtime":"codex","prompt":"hi","sandbox":"all"})", "task.sandbox"},
      {R"({"runtime":"codex","prompt":"hi","max_turns":3})", "task.max_turns"},
      {R"({"runtime":"codex","prompt":"hi","resume_on_retry":"yes"})", "task.resume_on_retry"},
      {R"({"runtime":"nope","command":["x"]})", "task.runtime"},
      {R"({"runtime":"command"})", "task.command"},
      {R"({"runtime":"command","command":[]})", "task.command"},
      {R"({"runtime":"command","command":[""]})", "task.command"},
      {R"({"runtime":"command","command":["x"],"env":{"OVERSEER_TOKEN":"x"}})", "task.env"},
      {R"({"runtime":"command","command":["x"],"env":{"1A":"x"}})", "task.env"},
      {R"({"runtime":"command","command":["x"],"cwd":"relative"})", "task.cwd"},
      {R"({"runtime":"command","command":["x"],"extra":1})", "task.extra"},
      {R"("just a string")", "task"},
  };
  for (const Case& c : cases) {
    Result<Task> t = ParseTask(r, c.task);
    ASSERT_FALSE(t.ok()) << c.task;
    EXPECT_EQ(t.error().code, ErrorCode::kInvalidRequest) << c.task;
    EXPECT_EQ(FieldOf(t.error()), c.field) << c.task << ": " << t.error().message;
  }
  std::string args;
  for (size_t i = 0; i <= TaskLimits::kArgvMax; ++i) args += std::string(i ? "," : "") + "\"a\"";
  Result<Task> too_many = ParseTask(r, R"({"runtime":"command","command":[)" + args + "]}");
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(FieldOf(too_many.error()), "task.command");
}

TEST(RuntimesTest, TheCommandSpawnGetsTheBaseEnvironmentThenItsOwn) {
  Runtimes r;
  Result<Task> t = ParseTask(r, R"({"runtime":"command","command":["a"],"env":{"K":"v"}})");
  ASSERT_TRUE(t.ok());
  const Runtime* cmd = r.Find("command");
  ASSERT_NE(cmd, nullptr);
  proc::SpawnSpec s = cmd->BuildSpawn(*t, Attempt());
  EXPECT_EQ(s.argv, (std::vector<std::string>{"a"}));
  EXPECT_EQ(s.env, (std::vector<std::string>{"PATH=/bin", "K=v"}));
  EXPECT_EQ(s.unit_name, "w_1");
  EXPECT_EQ(s.log_path, "/l/w_1.log");
  EXPECT_EQ(s.log_max_bytes, 99);
  EXPECT_EQ(cmd->NewOutputParser(*t, nullptr), nullptr);  // a plain command's output is only logged
  EXPECT_EQ(cmd->DefaultStallSeconds(), 0);
}

AgentOptions Agents() {
  AgentOptions a;
  a.claude_bin = "/opt/claude";
  a.codex_bin = "/opt/codex";
  a.claude_args = {"--fallback-model", "x"};
  a.codex_args = {"-c", "model_provider=gw"};
  a.agent_env = {"ANTHROPIC_API_KEY=sk-ant", "OPENAI_API_KEY=sk-oai", "CODEX_HOME=/c"};
  return a;
}

TEST(RuntimesTest, AClaudeTaskRunsTheCliHeadlessWithItsFlagsAndOnlyItsCredentials) {
  Runtimes r(Agents());
  Result<Task> t = ParseTask(r, R"({"runtime":"claude","prompt":"-fix it","model":"sonnet",
      "allowed_tools":["Bash","Read"],"max_turns":3,"permission_mode":"acceptEdits",
      "append_system_prompt":"be brief","cwd":"/repo","env":{"HOME":"/h"}})");
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_TRUE(t->agent.has_value());
  EXPECT_TRUE(t->agent->resume_on_retry);
  const Runtime* claude = r.Find("claude");
  AttemptContext ctx = Attempt();
  ctx.new_session_id = "11111111-2222-4333-8444-555555555555";
  proc::SpawnSpec s = claude->BuildSpawn(*t, ctx);
  EXPECT_EQ(s.argv, (std::vector<std::string>{
                        "/opt/claude", "-p", "--output-format", "stream-json", "--verbose",
                        "--include-partial-messages", "--session-id",
                        "11111111-2222-4333-8444-555555555555", "--model", "sonnet",
                        "--allowedTools", "Bash,Read", "--max-turns", "3", "--permission-mode",
                        "acceptEdits", "--append-system-prompt", "be brief", "--fallback-model",
                        "x", "--", "-fix it"}));
  EXPECT_EQ(s.cwd, "/repo");
  EXPECT_EQ(s.env, (std::vector<std::string>{"PATH=/bin", "ANTHROPIC_API_KEY=sk-ant", "HOME=/h"}));
  EXPECT_EQ(claude->DefaultStallSeconds(), 300);
  EXPECT_NE(claude->NewOutputParser(*t, nullptr), nullptr);

  // A retry resumes the session with the continue prompt, and a budget is a backstop flag.
  ctx.resume_session = "11111111-2222-4333-8444-555555555555";
  ctx.max_budget_usd = 1.5;
  s = claude->BuildSpawn(*t, ctx);
  const std::vector<std::string>& a = s.argv;
  EXPECT_EQ(a[6], "--resume");
  EXPECT_EQ(a[7], "11111111-2222-4333-8444-555555555555");
  EXPECT_EQ(std::count(a.begin(), a.end(), "--session-id"), 0);
  auto budget = std::find(a.begin(), a.end(), "--max-budget-usd");
  ASSERT_NE(budget, a.end());
  EXPECT_EQ(*(budget + 1), "1.500000");
  EXPECT_EQ(a.back(), AgentOptions{}.resume_prompt);
}

TEST(RuntimesTest, ACodexTaskRunsExecJsonAndResumesItsThread) {
  Runtimes r(Agents());
  Result<Task> t = ParseTask(
      r, R"({"runtime":"codex","prompt":"do it","model":"gpt-5","sandbox":"read-only"})");
  ASSERT_TRUE(t.ok()) << t.error().message;
  const Runtime* codex = r.Find("codex");
  proc::SpawnSpec s = codex->BuildSpawn(*t, Attempt());
  EXPECT_EQ(s.argv, (std::vector<std::string>{"/opt/codex", "exec", "--json",
                                              "--skip-git-repo-check", "--model", "gpt-5",
                                              "--sandbox", "read-only", "-c",
                                              "model_provider=gw", "--", "do it"}));
  EXPECT_EQ(s.env, (std::vector<std::string>{"PATH=/bin", "OPENAI_API_KEY=sk-oai", "CODEX_HOME=/c"}));
  AttemptContext ctx = Attempt();
  ctx.resume_session = "thread-1";
  s = codex->BuildSpawn(*t, ctx);
  EXPECT_EQ(std::vector<std::string>(s.argv.end() - 4, s.argv.end()),
            (std::vector<std::string>{"resume", "thread-1", "--", AgentOptions{}.resume_prompt}));
  // Usage of a resumed thread is counted from what the thread had used before.
  UsageDelta before;
  before.input_tokens = 10;
  before.output_tokens = 5;
  std::unique_ptr<OutputParser> p = codex->NewOutputParser(*t, &before);
  p->Feed(R"({"type":"thread.started","thread_id":"thread-1"})");
  p->Feed(R"({"type":"turn.completed","usage":{"input_tokens":30,"cached_input_tokens":0,"output_tokens":12}})");
  EXPECT_EQ(p->usage().usage.input_tokens, 20);
  EXPECT_EQ(p->usage().usage.output_tokens, 7);
  EXPECT_TRUE(p->usage().cost_estimated);
  EXPECT_EQ(p->Succeeded(), std::optional<bool>(true));
}

}  // namespace
}  // namespace overseer::service
