#include "service/runtimes/command_runtime.h"

#include <boost/json/serialize.hpp>

#include "common/utf8.h"
#include "service/runtimes/task_fields.h"

namespace overseer::service {
namespace json = boost::json;

namespace {

using task_fields::HasNul;
using task_fields::Invalid;
using task_fields::TooMany;

Status ParseCommand(const json::value& v, const std::string& field, Task& task) {
  if (!v.is_array()) return Invalid(field, "must be an array of strings");
  const json::array& a = v.as_array();
  if (a.empty()) return Invalid(field, "must hold at least the program name");
  if (a.size() > TaskLimits::kArgvMax) {
    return TooMany(field, "has more than " + std::to_string(TaskLimits::kArgvMax) + " arguments",
                   TaskLimits::kArgvMax);
  }
  size_t total = 0;
  for (const json::value& arg : a) {
    if (!arg.is_string()) return Invalid(field, "must be an array of strings");
    const json::string& s = arg.as_string();
    if (s.size() > TaskLimits::kArgMax || HasNul(s)) {
      return TooMany(field, "an argument is longer than 32 KiB or holds a NUL byte",
                     TaskLimits::kArgMax);
    }
    total += s.size();
    task.argv.emplace_back(s);
  }
  if (task.argv[0].empty()) return Invalid(field, "the program name is empty");
  if (total > TaskLimits::kArgvTotalMax) {
    return TooMany(field, "arguments exceed 256 KiB in total", TaskLimits::kArgvTotalMax);
  }
  return OkStatus();
}

}  // namespace

Result<Task> CommandRuntime::Parse(const json::object& t) const {
  Task task;
  task.runtime = "command";
  json::object canonical{{"runtime", "command"}};
  for (const auto& kv : t) {
    const std::string key(kv.key());
    const std::string field = "task." + key;
    if (key == "runtime") continue;
    if (key == "command") {
      if (Status s = ParseCommand(kv.value(), field, task); !s) return s.error();
      canonical["command"] = kv.value();
    } else if (key == "cwd") {
      if (Status s = task_fields::ParseCwd(kv.value(), field, task); !s) return s.error();
      canonical["cwd"] = kv.value();
    } else if (key == "env") {
      if (Status s = task_fields::ParseEnv(kv.value(), field, task); !s) return s.error();
      canonical["env"] = kv.value();
    } else {
      return Invalid("task." + EchoText(key), "unknown field");
    }
  }
  if (task.argv.empty()) return Invalid("task.command", "is required");
  task.canonical_json = json::serialize(canonical);
  return task;
}

proc::SpawnSpec CommandRuntime::BuildSpawn(const Task& task, const AttemptContext& ctx) const {
  proc::SpawnSpec spec = task_fields::BaseSpawn(task, ctx);
  spec.argv = task.argv;
  spec.env = ctx.base_env;
  for (const auto& [k, v] : task.env) task_fields::SetEnv(spec.env, k, v);
  return spec;
}

}  // namespace overseer::service
