#include "service/runtimes/agent_runtimes.h"

#include <boost/json/serialize.hpp>
#include <cstdio>

#include "common/utf8.h"
#include "service/runtimes/claude_stream.h"
#include "service/runtimes/codex_stream.h"
#include "service/runtimes/task_fields.h"

namespace overseer::service {
namespace json = boost::json;
using task_fields::Invalid;
using task_fields::ParseText;

namespace {

template <typename Stream>
class StreamParser final : public OutputParser {
 public:
  explicit StreamParser(Stream stream) : stream_(std::move(stream)) {}
  void Feed(std::string_view line) override { stream_.Feed(line); }
  const AgentUsage& usage() const override { return stream_.usage(); }
  UsageDelta TakeDelta() override { return stream_.TakeDelta(); }
  std::optional<bool> Succeeded() const override { return stream_.Succeeded(); }
  Stream& stream() { return stream_; }

 private:
  Stream stream_;
};

std::string FormatUsd(double usd) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", usd < 0 ? 0.0 : usd);
  return buf;
}

bool HasPrefix(std::string_view kv, std::string_view prefix) {
  return kv.substr(0, prefix.size()) == prefix;
}

}  // namespace

AgentRuntime::AgentRuntime(const AgentOptions& options)
    : options_(options), prices_(options.prices) {}

Result<Task> AgentRuntime::Parse(const json::object& t) const {
  Task task;
  task.runtime = std::string(name());
  AgentTask agent;
  json::object canonical{{"runtime", task.runtime}};
  for (const auto& kv : t) {
    const std::string key(kv.key());
    const std::string field = "task." + key;
    const json::value& v = kv.value();
    if (key == "runtime") continue;
    if (key == "prompt") {
      Result<std::string> s = ParseText(v, field, AgentTaskLimits::kPromptMax, true);
      if (!s) return s.error();
      agent.prompt = std::move(*s);
    } else if (key == "model") {
      Result<std::string> s = ParseText(v, field, AgentTaskLimits::kModelMax, true);
      if (!s) return s.error();
      agent.model = std::move(*s);
    } else if (key == "cwd") {
      if (Status s = task_fields::ParseCwd(v, field, task); !s) return s.error();
    } else if (key == "env") {
      if (Status s = task_fields::ParseEnv(v, field, task); !s) return s.error();
    } else if (key == "resume_on_retry") {
      if (!v.is_bool()) return Invalid(field, "must be true or false");
      agent.resume_on_retry = v.as_bool();
    } else {
      Result<bool> own = ParseOwnField(key, v, agent);
      if (!own) return own.error();
      if (!*own) return Invalid("task." + EchoText(key), "unknown field");
    }
    canonical[key] = v;
  }
  if (agent.prompt.empty()) return Invalid("task.prompt", "is required");
  task.agent = std::move(agent);
  task.canonical_json = json::serialize(canonical);
  return task;
}

std::vector<std::string> AgentRuntime::Environment(
    const Task& task, const AttemptContext& ctx,
    std::initializer_list<std::string_view> prefixes) const {
  std::vector<std::string> env = ctx.base_env;
  for (const std::string& kv : options_.agent_env) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    for (std::string_view p : prefixes) {
      if (HasPrefix(kv, p)) {
        task_fields::SetEnv(env, kv.substr(0, eq), kv.substr(eq + 1));
        break;
      }
    }
  }
  for (const auto& [k, v] : task.env) task_fields::SetEnv(env, k, v);
  return env;
}

// ---- claude

Result<bool> ClaudeRuntime::ParseOwnField(const std::string& key, const json::value& v,
                                          AgentTask& agent) const {
  const std::string field = "task." + key;
  if (key == "allowed_tools") {
    if (!v.is_array()) return Invalid(field, "must be an array of tool names");
    const json::array& a = v.as_array();
    if (a.size() > AgentTaskLimits::kToolsMax) {
      return task_fields::TooMany(field, "has more than 64 tools", AgentTaskLimits::kToolsMax);
    }
    for (const json::value& tool : a) {
      Result<std::string> s = ParseText(tool, field, AgentTaskLimits::kToolMax, true);
      if (!s) return s.error();
      if (s->find(',') != std::string::npos) {
        return Invalid(field, "a tool name holds a comma; give one tool per item");
      }
      agent.allowed_tools.push_back(std::move(*s));
    }
    return true;
  }
  if (key == "max_turns") {
    if (!v.is_int64() || v.as_int64() < 1 || v.as_int64() > AgentTaskLimits::kMaxTurnsMax) {
      return Invalid(field, "must be an integer 1..10000");
    }
    agent.max_turns = static_cast<int>(v.as_int64());
    return true;
  }
  if (key == "permission_mode") {
    Result<std::string> s = ParseText(v, field, 64, true);
    if (!s) return s.error();
    if (*s != "default" && *s != "acceptEdits" && *s != "bypassPermissions" && *s != "plan" &&
        *s != "dontAsk") {
      return Invalid(field, "must be default, acceptEdits, bypassPermissions, plan or dontAsk");
    }
    agent.permission_mode = std::move(*s);
    return true;
  }
  if (key == "append_system_prompt") {
    Result<std::string> s = ParseText(v, field, AgentTaskLimits::kSystemPromptMax, false);
    if (!s) return s.error();
    agent.append_system_prompt = std::move(*s);
    return true;
  }
  return false;
}

proc::SpawnSpec ClaudeRuntime::BuildSpawn(const Task& task, const AttemptContext& ctx) const {
  const AgentTask& a = *task.agent;
  proc::SpawnSpec spec = task_fields::BaseSpawn(task, ctx);
  std::vector<std::string>& argv = spec.argv;
  argv = {options_.claude_bin, "-p",        "--output-format",
          "stream-json",       "--verbose", "--include-partial-messages"};
  if (!ctx.resume_session.empty()) {
    argv.insert(argv.end(), {"--resume", ctx.resume_session});
  } else if (!ctx.new_session_id.empty()) {
    argv.insert(argv.end(), {"--session-id", ctx.new_session_id});
  }
  if (!a.model.empty()) argv.insert(argv.end(), {"--model", a.model});
  if (!a.allowed_tools.empty()) {
    std::string tools;
    for (const std::string& t : a.allowed_tools) tools += (tools.empty() ? "" : ",") + t;
    argv.insert(argv.end(), {"--allowedTools", tools});
  }
  if (a.max_turns > 0) argv.insert(argv.end(), {"--max-turns", std::to_string(a.max_turns)});
  if (!a.permission_mode.empty()) argv.insert(argv.end(), {"--permission-mode", a.permission_mode});
  if (!a.append_system_prompt.empty()) {
    argv.insert(argv.end(), {"--append-system-prompt", a.append_system_prompt});
  }
  if (ctx.max_budget_usd) {
    argv.insert(argv.end(), {"--max-budget-usd", FormatUsd(*ctx.max_budget_usd)});
  }
  argv.insert(argv.end(), options_.claude_args.begin(), options_.claude_args.end());
  argv.emplace_back("--");
  argv.push_back(ctx.resume_session.empty() ? a.prompt : options_.resume_prompt);
  spec.env = Environment(task, ctx, {"ANTHROPIC_"});
  return spec;
}

std::unique_ptr<OutputParser> ClaudeRuntime::NewOutputParser(const Task& task,
                                                             const UsageDelta* resumed) const {
  (void)task;
  (void)resumed;  // claude reports each run's own usage, resumed or not
  return std::make_unique<StreamParser<ClaudeStream>>(ClaudeStream(prices()));
}

// ---- codex

Result<bool> CodexRuntime::ParseOwnField(const std::string& key, const json::value& v,
                                         AgentTask& agent) const {
  if (key != "sandbox") return false;
  const std::string field = "task." + key;
  Result<std::string> s = ParseText(v, field, 64, true);
  if (!s) return s.error();
  if (*s != "read-only" && *s != "workspace-write" && *s != "danger-full-access") {
    return Invalid(field, "must be read-only, workspace-write or danger-full-access");
  }
  agent.sandbox = std::move(*s);
  return true;
}

proc::SpawnSpec CodexRuntime::BuildSpawn(const Task& task, const AttemptContext& ctx) const {
  const AgentTask& a = *task.agent;
  proc::SpawnSpec spec = task_fields::BaseSpawn(task, ctx);
  std::vector<std::string>& argv = spec.argv;
  argv = {options_.codex_bin, "exec", "--json", "--skip-git-repo-check"};
  if (!a.model.empty()) argv.insert(argv.end(), {"--model", a.model});
  if (!a.sandbox.empty()) argv.insert(argv.end(), {"--sandbox", a.sandbox});
  argv.insert(argv.end(), options_.codex_args.begin(), options_.codex_args.end());
  if (!ctx.resume_session.empty()) argv.insert(argv.end(), {"resume", ctx.resume_session});
  argv.emplace_back("--");
  argv.push_back(ctx.resume_session.empty() ? a.prompt : options_.resume_prompt);
  spec.env = Environment(task, ctx, {"OPENAI_", "CODEX_"});
  return spec;
}

std::unique_ptr<OutputParser> CodexRuntime::NewOutputParser(const Task& task,
                                                            const UsageDelta* resumed) const {
  CodexStream stream(task.agent ? task.agent->model : std::string(), prices());
  if (resumed != nullptr) {
    // Codex reports the thread's running total: what the thread had used is the baseline
    // (its input counts cached and cache-written tokens too).
    CodexThreadTotals t;
    t.input_tokens =
        resumed->input_tokens + resumed->cache_read_tokens + resumed->cache_write_tokens;
    t.cached_input_tokens = resumed->cache_read_tokens;
    t.cache_write_input_tokens = resumed->cache_write_tokens;
    t.output_tokens = resumed->output_tokens;
    t.reasoning_output_tokens = resumed->reasoning_tokens;
    stream.SetThreadBaseline(t);
  }
  return std::make_unique<StreamParser<CodexStream>>(std::move(stream));
}

}  // namespace overseer::service
