// Runtimes: each owns one kind of task (`task.runtime`). It checks a submitted task (the domain
// rules that REST, MCP and the CLI share: limits, the OVERSEER_* environment ban), builds the
// spawn of an attempt, and makes the parser that turns the lines the process writes into what
// the worker reports (agents: session, tokens, cost, result). `command`, `claude` and `codex`
// (SPEC §11). A task is parsed once: at submission, or when a job is loaded at start. Runtimes
// hold no state (any thread); an OutputParser belongs to one attempt (loop thread).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "proc/process.h"
#include "service/runtimes/agent_usage.h"

namespace overseer::service {

// Limits on a task, enforced at the edge by every front end through Runtime::Parse.
struct TaskLimits {
  static constexpr size_t kArgvMax = 256;
  static constexpr size_t kArgMax = 32 * 1024;
  static constexpr size_t kArgvTotalMax = 256 * 1024;
  static constexpr size_t kCwdMax = 4096;
  static constexpr size_t kEnvMax = 128;
  static constexpr size_t kEnvKeyMax = 256;
  static constexpr size_t kEnvValueMax = 32 * 1024;
};

// What an agent task asks for (runtime `claude` or `codex`).
struct AgentTask {
  std::string prompt;
  std::string model;                       // "" = the CLI's default
  std::vector<std::string> allowed_tools;  // claude --allowedTools
  int max_turns = 0;                       // claude --max-turns; 0 = the CLI's default
  std::string permission_mode;             // claude --permission-mode
  std::string append_system_prompt;        // claude --append-system-prompt
  std::string sandbox;                     // codex --sandbox
  bool resume_on_retry = true;  // a retry resumes the failed attempt's conversation
};

// A task as its runtime parsed it.
struct Task {
  std::string runtime;            // "command", "claude", "codex"
  std::vector<std::string> argv;  // command: the program and its arguments
  std::optional<AgentTask> agent;  // claude, codex
  std::string cwd;                 // "" = the daemon's
  std::vector<std::pair<std::string, std::string>> env;
  std::string canonical_json;  // what is stored in jobs.task_json
};

// What the service knows of an attempt when it asks for its spawn.
struct AttemptContext {
  std::string unit_name;  // the worker id
  std::string log_path;
  int64_t log_max_bytes = 0;
  std::vector<std::string> base_env;  // "K=V", inherited by every worker
  int attempt = 1;
  // Agents: the session (claude) or thread (codex) to resume, "" for a new conversation; and
  // the id of a new claude session (chosen by overseer).
  std::string resume_session;
  std::string new_session_id;
  std::optional<double> max_budget_usd;  // claude --max-budget-usd, the subtree's backstop
};

// Reads an agent's output stream, one line at a time, into what its worker reports. One
// per attempt; loop thread.
class OutputParser {
 public:
  virtual ~OutputParser() = default;
  virtual void Feed(std::string_view line) = 0;
  // This attempt's figures so far.
  virtual const AgentUsage& usage() const = 0;
  // What the totals moved since the previous call (fields may be negative: a final result
  // corrected what was streamed).
  virtual UsageDelta TakeDelta() = 0;
  // From the stream's final result: did the run succeed? nullopt: no result (the exit code
  // decides).
  virtual std::optional<bool> Succeeded() const = 0;
};

// kInvalidRequest "<field>: <message>" with details.field: how a runtime names a bad field.
Error InvalidTaskField(std::string field, const std::string& message);

class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual std::string_view name() const = 0;
  // Checks the task object and answers it parsed; kInvalidRequest naming the field
  // (details.field "task.command").
  virtual Result<Task> Parse(const boost::json::object& task) const = 0;
  // The spawn of one attempt: the task's program, cwd and environment after ctx.base_env.
  virtual proc::SpawnSpec BuildSpawn(const Task& task, const AttemptContext& ctx) const = 0;
  // The parser of one attempt's output; nullptr when the output is only logged (command).
  // `resumed`: what the conversation this attempt resumes used so far (codex reports usage
  // per thread); nullptr for a new conversation.
  virtual std::unique_ptr<OutputParser> NewOutputParser(const Task& task,
                                                        const UsageDelta* resumed) const {
    (void)task;
    (void)resumed;
    return nullptr;
  }
  // The stall clock's default when a job gives no stall_seconds (0: none).
  virtual int64_t DefaultStallSeconds() const { return 0; }
};

class PriceTable;

// How the daemon runs the agent CLIs (SPEC §11): where they are, extra arguments, and the
// credentials each one gets (never a plain command).
struct AgentOptions {
  std::string claude_bin = "claude";  // --claude-bin, else PATH
  std::string codex_bin = "codex";    // --codex-bin, else PATH
  std::vector<std::string> claude_args;  // --claude-arg, added before the prompt
  std::vector<std::string> codex_args;   // --codex-arg (e.g. "-c", "model_provider=...")
  // "K=V" from the daemon's environment or --agent-env-file: ANTHROPIC_* go to claude
  // workers, OPENAI_* and CODEX_* to codex workers.
  std::vector<std::string> agent_env;
  std::shared_ptr<const PriceTable> prices;  // nullptr: the built-in table
  // The prompt of an attempt that resumes a conversation.
  std::string resume_prompt =
      "The previous attempt at this task was interrupted. Continue the task where it stopped.";
};

// The runtimes this daemon runs, by name.
class Runtimes {
 public:
  explicit Runtimes(const AgentOptions& agents = {});  // command, claude, codex
  ~Runtimes();
  const Runtime* Find(std::string_view name) const;
  // The value of "task" in a request: dispatched on its "runtime". kInvalidRequest.
  Result<Task> Parse(const boost::json::value& task) const;
  // A stored task (jobs.task_json) parsed again, once, when its job is loaded at start.
  Result<Task> ParseStored(std::string_view task_json) const;

 private:
  std::map<std::string, std::unique_ptr<Runtime>, std::less<>> by_name_;
};

}  // namespace overseer::service
