#include "service/runtimes/task_fields.h"

#include <algorithm>
#include <cctype>

#include "common/utf8.h"

namespace overseer::service::task_fields {
namespace json = boost::json;

Error Invalid(std::string field, const std::string& message) {
  return InvalidTaskField(std::move(field), message);
}

Error TooMany(const std::string& field, const std::string& message, size_t limit) {
  Error e = Invalid(field, message);
  e.With("limit", static_cast<int64_t>(limit));
  return e;
}

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

namespace {
bool IsEnvKey(std::string_view k) {
  if (k.empty() || k.size() > TaskLimits::kEnvKeyMax) return false;
  if (!(std::isalpha(static_cast<unsigned char>(k[0])) || k[0] == '_')) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}
}  // namespace

Status ParseCwd(const json::value& v, const std::string& field, Task& task) {
  if (!v.is_string()) return Invalid(field, "must be a string");
  const json::string& s = v.as_string();
  if (s.empty() || s[0] != '/' || s.size() > TaskLimits::kCwdMax || HasNul(s)) {
    return Invalid(field, "must be an absolute path of at most 4096 bytes");
  }
  task.cwd = std::string(s);
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

void SetEnv(std::vector<std::string>& env, const std::string& name, const std::string& value) {
  const std::string prefix = name + "=";
  std::erase_if(env,
                [&](const std::string& kv) { return kv.compare(0, prefix.size(), prefix) == 0; });
  env.push_back(prefix + value);
}

proc::SpawnSpec BaseSpawn(const Task& task, const AttemptContext& ctx) {
  proc::SpawnSpec spec;
  spec.cwd = task.cwd;
  spec.unit_name = ctx.unit_name;
  spec.log_path = ctx.log_path;
  spec.log_max_bytes = ctx.log_max_bytes;
  return spec;
}

Result<std::string> ParseText(const json::value& v, const std::string& field, size_t max_bytes,
                              bool required) {
  if (!v.is_string()) return Invalid(field, "must be a string");
  const json::string& s = v.as_string();
  if (required && s.empty()) return Invalid(field, "must not be empty");
  if (s.size() > max_bytes || HasNul(s)) {
    return TooMany(field,
                   "must be at most " + std::to_string(max_bytes) + " bytes without NUL bytes",
                   max_bytes);
  }
  return std::string(s);
}

}  // namespace overseer::service::task_fields
