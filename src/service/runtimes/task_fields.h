// The task fields every runtime shares (SPEC §11): `cwd` and `env`, checked against
// TaskLimits and the OVERSEER_* ban, and the errors that name a bad field. Any thread.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <vector>

#include "service/runtime.h"

namespace overseer::service::task_fields {

Error Invalid(std::string field, const std::string& message);
// Invalid with details.limit.
Error TooMany(const std::string& field, const std::string& message, size_t limit);
bool HasNul(std::string_view s);

// task.cwd: an absolute path of at most TaskLimits::kCwdMax bytes.
Status ParseCwd(const boost::json::value& v, const std::string& field, Task& task);
// task.env: an object of strings, valid names, no OVERSEER_*.
Status ParseEnv(const boost::json::value& v, const std::string& field, Task& task);
// Sets NAME=VALUE in `env` ("K=V" entries), replacing an earlier NAME: the task's env wins
// over what a worker inherits (execve would hand the first of two to getenv).
void SetEnv(std::vector<std::string>& env, const std::string& name, const std::string& value);
// The spawn fields every runtime fills the same way: cwd, unit name, log (argv and env are
// the runtime's).
proc::SpawnSpec BaseSpawn(const Task& task, const AttemptContext& ctx);
// A string of at most `max_bytes` without NUL bytes; `required` also refuses "".
Result<std::string> ParseText(const boost::json::value& v, const std::string& field,
                              size_t max_bytes, bool required);

}  // namespace overseer::service::task_fields
