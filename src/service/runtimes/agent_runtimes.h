// The agent runtimes (SPEC §11): `claude` runs Claude Code headless (`claude -p
// --output-format stream-json --verbose --include-partial-messages`), `codex` runs `codex exec
// --json`. Each parses its task's fields, builds the CLI's command line (a new conversation
// or `--resume` of the failed attempt's, the daemon's extra arguments, the credentials of its
// own provider from AgentOptions::agent_env and nobody else's), and makes the attempt's
// stream parser (ClaudeStream, CodexStream). Any thread (no state beyond the options).
#pragma once

#include "service/runtime.h"
#include "service/runtimes/price_table.h"

namespace overseer::service {

// Limits of an agent task's fields.
struct AgentTaskLimits {
  static constexpr size_t kPromptMax = 256 * 1024;
  static constexpr size_t kSystemPromptMax = 64 * 1024;
  static constexpr size_t kModelMax = 256;
  static constexpr size_t kToolsMax = 64;
  static constexpr size_t kToolMax = 256;
  static constexpr int kMaxTurnsMax = 10000;
};

// The default of `stall_seconds` for a job of an agent runtime.
inline constexpr int64_t kAgentStallSecondsDefault = 300;

class AgentRuntime : public Runtime {
 public:
  explicit AgentRuntime(const AgentOptions& options);
  Result<Task> Parse(const boost::json::object& task) const override;
  int64_t DefaultStallSeconds() const override { return kAgentStallSecondsDefault; }

 protected:
  // Whether `key` is one of this runtime's own fields (beyond prompt, model, cwd, env,
  // resume_on_retry); parses it into `agent`.
  virtual Result<bool> ParseOwnField(const std::string& key, const boost::json::value& v,
                                     AgentTask& agent) const = 0;
  // The daemon's environment for a worker of this runtime: base_env, this runtime's
  // credentials, then the task's env.
  std::vector<std::string> Environment(const Task& task, const AttemptContext& ctx,
                                       std::initializer_list<std::string_view> prefixes) const;
  const PriceTable& prices() const { return prices_ ? *prices_ : PriceTable::BuiltIn(); }

  AgentOptions options_;
  std::shared_ptr<const PriceTable> prices_;
};

class ClaudeRuntime final : public AgentRuntime {
 public:
  using AgentRuntime::AgentRuntime;
  std::string_view name() const override { return "claude"; }
  proc::SpawnSpec BuildSpawn(const Task& task, const AttemptContext& ctx) const override;
  std::unique_ptr<OutputParser> NewOutputParser(const Task& task,
                                                const UsageDelta* resumed) const override;

 protected:
  Result<bool> ParseOwnField(const std::string& key, const boost::json::value& v,
                             AgentTask& agent) const override;
};

class CodexRuntime final : public AgentRuntime {
 public:
  using AgentRuntime::AgentRuntime;
  std::string_view name() const override { return "codex"; }
  proc::SpawnSpec BuildSpawn(const Task& task, const AttemptContext& ctx) const override;
  std::unique_ptr<OutputParser> NewOutputParser(const Task& task,
                                                const UsageDelta* resumed) const override;

 protected:
  Result<bool> ParseOwnField(const std::string& key, const boost::json::value& v,
                             AgentTask& agent) const override;
};

}  // namespace overseer::service
