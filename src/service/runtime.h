// Runtimes: each owns one kind of task (`task.runtime`). It checks a submitted task (the domain
// rules that REST, MCP and the CLI share: limits, the OVERSEER_* environment ban), builds the
// spawn of an attempt, and turns the lines the process writes into what the worker reports.
// `command` is the first; `claude` and `codex` come next (#11). A task is parsed once: at
// submission, or when a job is loaded at start. Any thread (runtimes hold no state).
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

// A task as its runtime parsed it.
struct Task {
  std::string runtime;            // "command"
  std::vector<std::string> argv;  // the program and its arguments
  std::string cwd;                // "" = the daemon's
  std::vector<std::pair<std::string, std::string>> env;
  std::string canonical_json;  // what is stored in jobs.task_json
};

// What the service knows of an attempt when it asks for its spawn.
struct AttemptContext {
  std::string unit_name;  // the worker id
  std::string log_path;
  int64_t log_max_bytes = 0;
  std::vector<std::string> base_env;  // "K=V", inherited by every worker
};

// What a line of output told (nothing for a plain command).
struct OutputReport {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  double cost_usd = 0;
  std::optional<bool> succeeded;  // a final result line said so
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
  // One line of the attempt's output (the log keeps every line anyway).
  virtual void OnOutput(std::string_view line, OutputReport& report) const {
    (void)line;
    (void)report;
  }
};

// The runtimes this daemon runs, by name.
class Runtimes {
 public:
  Runtimes();  // "command"
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
