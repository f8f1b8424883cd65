// The `command` runtime: any program with its arguments, cwd and environment; its output is
// only logged. Any thread.
#pragma once

#include "service/runtime.h"

namespace overseer::service {

class CommandRuntime final : public Runtime {
 public:
  std::string_view name() const override { return "command"; }
  Result<Task> Parse(const boost::json::object& task) const override;
  proc::SpawnSpec BuildSpawn(const Task& task, const AttemptContext& ctx) const override;
};

}  // namespace overseer::service
