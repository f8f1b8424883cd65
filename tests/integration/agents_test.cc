// Agent runtimes end to end: the real `claude` and `codex` CLIs (node_modules, pinned in
// package-lock.json) run as workers of the real daemon against the fake model servers of
// tests/fakes, started and stopped by each test on 127.0.0.1. Nothing here needs the network.
// Each CLI run costs ~1-2 s of CPU: every case runs few of them.
#include <regex>

#include "integration/fake_model.h"
#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;
using Kind = FakeModel::Kind;

class AgentsTest : public SharedDaemonTest<AgentsTest> {
 public:
  static DaemonOptions Options() {
    return DaemonOptions{{"--claude-bin", FakeModel::ClaudeBin(), "--codex-bin",
                          FakeModel::CodexBin(), "--codex-arg=--disable", "--codex-arg=apps",
                          "--codex-arg=--disable", "--codex-arg=plugins"}};
  }

 protected:
  // Submits `job` and answers its id and its worker's id.
  void Submit(const json::object& job, std::string* job_id, std::string* worker_id) {
    Reply r = api().Post("/api/jobs", job);
    ASSERT_EQ(r.status, 201u) << Describe(r);
    *job_id = r.Str({"id"});
    std::vector<std::string> ids = WorkerIds(api(), *job_id);
    ASSERT_EQ(ids.size(), 1u);
    *worker_id = ids[0];
  }
  // The worker once its status is `status` (60 s at most: CLIs under a loaded CI host).
  Reply Worker(const std::string& id, const std::string& status) {
    Reply w = WaitWorker(api(), id, status, 60s);
    EXPECT_EQ(w.Str({"status"}), status)
        << Describe(w) << "\nlog:\n"
        << api().Get("/api/supervisor/workers/" + id + "/logs").body;
    return w;
  }
  static std::string RequestsOf(const FakeModel& fake) {
    std::string out;
    for (const json::object& r : fake.Requests()) out += json::serialize(r) + "\n";
    return out;
  }
};

json::object ClaudeJob(const FakeModel& fake, json::object task, json::object extra = {}) {
  task["runtime"] = "claude";
  if (!task.contains("env")) task["env"] = fake.ClaudeEnv();
  json::object job{{"task", std::move(task)}};
  for (auto& kv : extra) job[kv.key()] = kv.value();
  return job;
}

TEST_F(AgentsTest, AClaudeAgentCallsAToolAndItsSessionTokensCostAndResultAreOnTheWorker) {
  FakeModel fake(Kind::kAnthropic, json::parse(R"({"turns":[
      {"type":"tool_use","name":"Bash","input":{"command":"echo hi-from-tool","description":"say hi"}},
      {"type":"text","text":"All done: hi-from-tool","usage":{"input_tokens":120,"output_tokens":7}}]})"));
  ASSERT_TRUE(fake.running());
  std::string job_id, worker_id;
  ASSERT_NO_FATAL_FAILURE(Submit(ClaudeJob(fake, {{"prompt", "run echo hi-from-tool"},
                                                  {"allowed_tools", json::array{"Bash"}}}),
                                 &job_id, &worker_id));
  Reply w = Worker(worker_id, "COMPLETED");
  EXPECT_EQ(w.Str({"status_reason"}), "EXITED");
  const json::value& a = w.At({"agent"});
  ASSERT_TRUE(a.is_object()) << Describe(w);
  EXPECT_EQ(a.at("runtime").as_string(), "claude");
  EXPECT_TRUE(std::regex_match(
      std::string(a.at("session_id").as_string()),
      std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << a;
  EXPECT_EQ(a.at("turns").as_int64(), 2) << a;
  EXPECT_EQ(a.at("result").as_string(), "All done: hi-from-tool");
  EXPECT_FALSE(a.at("is_error").as_bool());
  EXPECT_EQ(a.at("subtype").as_string(), "success");
  // Two replies: the tool call's default 10 in / 5 out and the text's 120 / 7.
  EXPECT_EQ(a.at("input_tokens").as_int64(), 130) << a;
  EXPECT_EQ(a.at("output_tokens").as_int64(), 12) << a;
  EXPECT_GT(a.at("cost_usd").as_double(), 0.0);
  EXPECT_FALSE(a.at("cost_estimated").as_bool());  // claude's own total_cost_usd
  EXPECT_EQ(a.at("attempts").as_int64(), 1);
  EXPECT_EQ(fake.Requests().size(), 2u) << RequestsOf(fake);
  // The log keeps the raw stream; the job carries the agent default stall clock.
  const std::string log = api().Get("/api/supervisor/workers/" + worker_id + "/logs").body;
  EXPECT_NE(log.find(R"("type":"result")"), std::string::npos) << log;
  EXPECT_NE(log.find("hi-from-tool"), std::string::npos);
  Reply job = WaitJob(api(), job_id, "COMPLETED");
  EXPECT_EQ(job.Int({"stall_seconds"}), 300) << Describe(job);
  EXPECT_EQ(job.Str({"name"}), "claude");
}

TEST_F(AgentsTest, AnApiErrorFailsTheAttemptAndTheRetryResumesTheSameSession) {
  FakeModel fake(Kind::kAnthropic, json::parse(R"({"turns":[
      {"type":"error","status":500,"message":"upstream overloaded","repeat":2},
      {"type":"text","text":"recovered"}]})"));
  ASSERT_TRUE(fake.running());
  std::string job_id, worker_id;
  ASSERT_NO_FATAL_FAILURE(
      Submit(ClaudeJob(fake, {{"prompt", "first try"}},
                       {{"retry", json::object{{"max_attempts", 2}, {"initial_backoff_ms", 100}}}}),
             &job_id, &worker_id));
  Reply w = Worker(worker_id, "COMPLETED");
  EXPECT_EQ(w.Int({"attempt"}), 2);
  std::vector<std::string> reasons;
  for (const json::value& t : w.At({"transitions"}).as_array()) {
    reasons.emplace_back(t.at("reason").as_string());
  }
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "AGENT_ERROR"), reasons.end()) << Describe(w);
  const json::value& a = w.At({"agent"});
  EXPECT_EQ(a.at("attempts").as_int64(), 2) << a;
  EXPECT_EQ(a.at("result").as_string(), "recovered");
  EXPECT_FALSE(a.at("is_error").as_bool());
  // The first attempt's session was resumed: the third request carries the conversation
  // (the first prompt and the continue prompt), not a new one.
  std::vector<json::object> reqs = fake.Requests();
  ASSERT_EQ(reqs.size(), 3u) << RequestsOf(fake);
  EXPECT_GT(reqs[2].at("messages").as_int64(), reqs[0].at("messages").as_int64())
      << RequestsOf(fake);
  const std::string log =
      api().Get("/api/supervisor/workers/" + worker_id + "/logs?tail=1000").body;
  const std::string sid(a.at("session_id").as_string());
  // Both attempts' init lines name the same session.
  size_t count = 0;
  for (size_t at = log.find(R"("session_id":")" + sid); at != std::string::npos;
       at = log.find(R"("session_id":")" + sid, at + 1)) {
    ++count;
  }
  EXPECT_GE(count, 2u) << log;
}

TEST_F(AgentsTest, AnAttemptThatFailsItsResultFailsWhateverTheExitCode) {
  // --max-turns 1 with a tool call: claude ends error_max_turns (is_error) after the tool ran.
  FakeModel fake(Kind::kAnthropic, json::parse(R"({"turns":[
      {"type":"tool_use","name":"Bash","input":{"command":"echo one","description":"one"}}]})"));
  ASSERT_TRUE(fake.running());
  std::string job_id, worker_id;
  ASSERT_NO_FATAL_FAILURE(Submit(
      ClaudeJob(fake,
                {{"prompt", "loop"}, {"allowed_tools", json::array{"Bash"}}, {"max_turns", 1}}),
      &job_id, &worker_id));
  Reply w = Worker(worker_id, "FAILED");
  EXPECT_EQ(w.Str({"status_reason"}), "AGENT_ERROR");
  const json::value& a = w.At({"agent"});
  EXPECT_TRUE(a.at("is_error").as_bool()) << a;
  EXPECT_EQ(a.at("subtype").as_string(), "error_max_turns");
  WaitJob(api(), job_id, "FAILED");
}

TEST_F(AgentsTest, AStalledStreamIsFailedByTheWatchdogWithinStallSecondsPlusOne) {
  FakeModel fake(Kind::kAnthropic, json::parse(R"({"turns":[{"type":"stall"}]})"));
  ASSERT_TRUE(fake.running());
  std::string job_id, worker_id;
  ASSERT_NO_FATAL_FAILURE(
      Submit(ClaudeJob(fake, {{"prompt", "hang"}}, {{"stall_seconds", 4}}), &job_id, &worker_id));
  Reply w = Worker(worker_id, "FAILED");
  EXPECT_EQ(w.Str({"status_reason"}), "STALLED") << Describe(w);
  // The stall clock counts from the last line (the stream's message_start), so the attempt
  // ends 4 s after it plus the CLI's start; checked loosely here, measured in bench/. (4 s,
  // not 2: on a loaded 2-core machine the CLI itself can take over 2 s to start and reach the
  // model, and the clock runs from the spawn.)
  EXPECT_EQ(fake.Requests().size(), 1u);
}

TEST_F(AgentsTest, APausedAgentKeepsItsStreamAndItsStallClockStopsWhilePaused) {
  // Ten deltas 400 ms apart: pause after the first, stay paused longer than stall_seconds.
  FakeModel fake(Kind::kAnthropic, json::parse(R"({"turns":[
      {"type":"text","text":"one two three four five six seven eight nine ten","chunk_delay_ms":400}]})"));
  ASSERT_TRUE(fake.running());
  std::string job_id, worker_id;
  ASSERT_NO_FATAL_FAILURE(
      Submit(ClaudeJob(fake, {{"prompt", "count"}}, {{"stall_seconds", 2}}), &job_id, &worker_id));
  WaitLog(api(), worker_id, "content_block_delta", 30s);
  Reply p = api().Post("/api/supervisor/workers/" + worker_id + "/pause", "{}");
  ASSERT_EQ(p.status, 200u) << Describe(p);
  std::this_thread::sleep_for(3500ms);  // longer than stall_seconds
  Reply still = api().Get("/api/supervisor/workers/" + worker_id);
  EXPECT_EQ(still.Str({"status"}), "PAUSED") << Describe(still);
  Reply r = api().Post("/api/supervisor/workers/" + worker_id + "/resume", "{}");
  ASSERT_EQ(r.status, 200u) << Describe(r);
  Reply w = Worker(worker_id, "COMPLETED");
  EXPECT_EQ(w.At({"agent"}).at("result").as_string(),
            "one two three four five six seven eight nine ten");
}

TEST_F(AgentsTest, ACodexAgentIsPricedFromThePriceTableAndMarkedEstimated) {
  FakeModel fake(Kind::kOpenAiResponses, json::parse(R"({"turns":[
      {"type":"text","text":"codex done","usage":{"input_tokens":2000,"cached_input_tokens":500,"output_tokens":100}}]})"));
  ASSERT_TRUE(fake.running());
  std::string job_id, worker_id;
  json::object task{{"runtime", "codex"},
                    {"prompt", "do the thing"},
                    {"model", "gpt-5"},
                    {"env", fake.CodexEnv()}};
  ASSERT_NO_FATAL_FAILURE(Submit(json::object{{"task", task}}, &job_id, &worker_id));
  Reply w = Worker(worker_id, "COMPLETED");
  const json::value& a = w.At({"agent"});
  ASSERT_TRUE(a.is_object()) << Describe(w);
  EXPECT_EQ(a.at("runtime").as_string(), "codex");
  EXPECT_FALSE(a.at("session_id").as_string().empty());  // the thread id
  EXPECT_EQ(a.at("result").as_string(), "codex done");
  EXPECT_EQ(a.at("input_tokens").as_int64(), 1500) << a;  // codex's input includes the cached
  EXPECT_EQ(a.at("cache_read_tokens").as_int64(), 500);
  EXPECT_EQ(a.at("output_tokens").as_int64(), 100);
  // gpt-5 in the built-in table: 1.25 / 0.125 cached / 10 USD per million tokens.
  EXPECT_NEAR(a.at("cost_usd").as_double(), (1500 * 1.25 + 500 * 0.125 + 100 * 10) / 1e6, 1e-9);
  EXPECT_TRUE(a.at("cost_estimated").as_bool());
  EXPECT_FALSE(a.at("cost_default_price").as_bool());
}

TEST_F(AgentsTest, ACodexTurnThatFailsFailsTheAttemptWithTheError) {
  FakeModel fake(
      Kind::kOpenAiResponses,
      json::parse(
          R"({"turns":[{"type":"failed","code":"server_error","message":"model melted"}]})"));
  ASSERT_TRUE(fake.running());
  std::string job_id, worker_id;
  json::object task{{"runtime", "codex"}, {"prompt", "try"}, {"env", fake.CodexEnv()}};
  ASSERT_NO_FATAL_FAILURE(Submit(json::object{{"task", task}}, &job_id, &worker_id));
  Reply w = Worker(worker_id, "FAILED");
  EXPECT_EQ(w.Str({"status_reason"}), "AGENT_ERROR");
  const json::value& a = w.At({"agent"});
  EXPECT_TRUE(a.at("is_error").as_bool()) << a;
  EXPECT_NE(std::string(a.at("error_message").as_string()).find("model melted"), std::string::npos)
      << a;
}

// The daemon's ANTHROPIC_* credentials reach claude workers and no plain command.
class AgentCredentialsTest : public OwnDaemonTest {
 protected:
  DaemonOptions Options() override {
    fake_ = std::make_unique<FakeModel>(
        Kind::kAnthropic, json::parse(R"({"turns":[{"type":"text","text":"keyed"}]})"));
    return DaemonOptions{
        {"--claude-bin", FakeModel::ClaudeBin()},
        {"ANTHROPIC_BASE_URL=" + fake_->base_url(), "ANTHROPIC_API_KEY=sk-ant-daemon-secret"}};
  }
  std::unique_ptr<FakeModel> fake_;
};

TEST_F(AgentCredentialsTest, OnlyClaudeWorkersGetTheDaemonsAnthropicVariables) {
  ASSERT_TRUE(fake_->running());
  Reply cmd = api().Post("/api/jobs", CommandJob(Sh("env; echo env-done")));
  ASSERT_EQ(cmd.status, 201u) << Describe(cmd);
  const std::string cmd_worker = WorkerIds(api(), cmd.Str({"id"}))[0];
  const std::string log = WaitLog(api(), cmd_worker, "env-done");
  EXPECT_EQ(log.find("ANTHROPIC_"), std::string::npos) << log;

  json::object env = fake_->ClaudeEnv();
  env.erase("ANTHROPIC_BASE_URL");
  env.erase("ANTHROPIC_API_KEY");
  Reply job = api().Post(
      "/api/jobs",
      json::object{{"task", json::object{{"runtime", "claude"}, {"prompt", "hi"}, {"env", env}}}});
  ASSERT_EQ(job.status, 201u) << Describe(job);
  const std::string w = WorkerIds(api(), job.Str({"id"}))[0];
  Reply done = WaitWorker(api(), w, "COMPLETED", 60s);
  EXPECT_EQ(done.Str({"status"}), "COMPLETED") << Describe(done);
  EXPECT_EQ(done.At({"agent"}).at("result").as_string(), "keyed");
  // The secret is in no answer.
  EXPECT_EQ(done.body.find("sk-ant-daemon-secret"), std::string::npos);
}

}  // namespace
}  // namespace overseer::it
