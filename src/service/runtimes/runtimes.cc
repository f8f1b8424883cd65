// The registry of runtimes.
#include <boost/json/parse.hpp>

#include "service/runtime.h"
#include "service/runtimes/agent_runtimes.h"
#include "service/runtimes/command_runtime.h"

namespace overseer::service {
namespace json = boost::json;

Error InvalidTaskField(std::string field, const std::string& message) {
  Error e = MakeError(ErrorCode::kInvalidRequest, field + ": " + message);
  e.With("field", std::move(field));
  return e;
}

Runtimes::Runtimes(const AgentOptions& agents) {
  std::vector<std::unique_ptr<Runtime>> all;
  all.push_back(std::make_unique<CommandRuntime>());
  all.push_back(std::make_unique<ClaudeRuntime>(agents));
  all.push_back(std::make_unique<CodexRuntime>(agents));
  for (auto& r : all) by_name_.emplace(std::string(r->name()), std::move(r));
}

Runtimes::~Runtimes() = default;

const Runtime* Runtimes::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second.get();
}

Result<Task> Runtimes::Parse(const json::value& v) const {
  const auto& invalid = InvalidTaskField;
  if (!v.is_object()) return invalid("task", "must be an object");
  const json::object& t = v.as_object();
  const json::value* runtime = t.if_contains("runtime");
  if (runtime == nullptr || !runtime->is_string()) {
    return invalid("task.runtime", "is required: \"command\", \"claude\" or \"codex\"");
  }
  const Runtime* r = Find(runtime->as_string());
  if (r == nullptr) return invalid("task.runtime", "must be \"command\", \"claude\" or \"codex\"");
  return r->Parse(t);
}

Result<Task> Runtimes::ParseStored(std::string_view task_json) const {
  boost::system::error_code ec;
  json::value v = json::parse(task_json, ec);
  if (ec) return MakeError(ErrorCode::kInternal, "stored task is not JSON");
  return Parse(v);
}

}  // namespace overseer::service
