// Access: every rule about who may reach what, in one place, for REST now and MCP later.
// An operator's token (Caller::job_id empty) reaches every job of its workspace; a worker
// token reaches its own job and the jobs below it, and lives only while its job is active.
// Lookups that cross workspaces answer as if the thing did not exist (SPEC §1). Loop thread
// only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "core/state_machine.h"
#include "service/context.h"

namespace overseer::service {

class Access {
 public:
  explicit Access(Context& ctx) : ctx_(ctx) {}

  // True while the job exists here and is not terminal (worker tokens die with their job).
  bool IsJobActive(const std::string& job_id) const;
  // The worker-token rule: an operator reaches every job of its workspace, a worker token its
  // own job and the jobs below it.
  boost::asio::awaitable<bool> CallerReaches(Caller caller, std::string job_id);
  // True if job `id` is `ancestor` or lies below it (walks up through memory and the store).
  boost::asio::awaitable<bool> WithinSubtree(std::string workspace_id, std::string ancestor,
                                             std::string id);
  // The status of job `id` of workspace `ws`: from memory while it is active, else from the
  // store (kNotFound if there is no such job).
  boost::asio::awaitable<Result<core::JobState>> JobStatusOf(std::string ws, std::string id);
  // The error for a command (`requested`) on a worker that is not live here: 404, the 409
  // of its state, or 503 when its state would allow it but this daemon does not supervise it.
  boost::asio::awaitable<Error> NotLiveError(Caller caller, std::string id,
                                             core::WorkerEvent requested);

 private:
  Context& ctx_;
};

}  // namespace overseer::service
