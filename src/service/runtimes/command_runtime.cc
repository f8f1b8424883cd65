#include "service/runtimes/command_runtime.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cctype>

#include "common/utf8.h"

namespace overseer::service {
namespace json = boost::json;

namespace {

Error Invalid(std::string field, const std::string& message) {
  return InvalidTaskField(std::move(field), message);
}

Error TooMany(const std::string& field, const std::string& message, size_t limit) {
  Error e = Invalid(field, message);
  e.With("limit", static_cast<int64_t>(limit));
  return e;
}

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

bool IsEnvKey(std::string_view k) {
  if (k.empty() || k.size() > TaskLimits::kEnvKeyMax) return false;
  if (!(std::isalpha(static_cast<unsigned char>(k[0])) || k[0] == '_')) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

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

Status ParseEnv(const json::value& v, const std::string& field, Task& task) {
  if (!v.is_object()) return Invalid(field, "must be an object of strings");
  const json::object& env = v.as_object();
  if (env.size() > TaskLimits::kEnvMax) {
    return TooMany(field, "has more than 128 variables", TaskLimits::kEnvMax);
  }
  for (const auto& e : env) {
    const std::string name(e.key());
    if (!IsEnvKey(name)) return Invalid(field, "invalid variable name '" + EchoText(name) + "'");
    if (name.rfind("OVERSEER_", 0) == 0) {
      return Invalid(field, "variables named OVERSEER_* are set by overseer");
    }
    if (!e.value().is_string()) return Invalid(field + "." + name, "must be a string");
    const json::string& val = e.value().as_string();
    if (val.size() > TaskLimits::kEnvValueMax || HasNul(val)) {
      return Invalid(field + "." + name, "must be at most 32 KiB without NUL bytes");
    }
    task.env.emplace_back(name, std::string(val));
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
      if (!kv.value().is_string()) return Invalid(field, "must be a string");
      const json::string& s = kv.value().as_string();
      if (s.empty() || s[0] != '/' || s.size() > TaskLimits::kCwdMax || HasNul(s)) {
        return Invalid(field, "must be an absolute path of at most 4096 bytes");
      }
      task.cwd = std::string(s);
      canonical["cwd"] = s;
    } else if (key == "env") {
      if (Status s = ParseEnv(kv.value(), field, task); !s) return s.error();
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
  proc::SpawnSpec spec;
  spec.argv = task.argv;
  spec.cwd = task.cwd;
  spec.unit_name = ctx.unit_name;
  spec.log_path = ctx.log_path;
  spec.log_max_bytes = ctx.log_max_bytes;
  spec.env = ctx.base_env;
  for (const auto& [k, v] : task.env) spec.env.push_back(k + "=" + v);
  return spec;
}

}  // namespace overseer::service
