// Allocations: worker slots allocated through the API (POST /api/resources/allocate and
// release, SPEC §3) — held for an active job until released or the job ends, counted in the
// Scheduler's quotas like a running worker's slot. Loop thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "service/context.h"

namespace overseer::service {

class Access;
class Scheduler;

class Allocations {
 public:
  Allocations(Context& ctx, Scheduler& scheduler, Access& access)
      : ctx_(ctx), scheduler_(scheduler), access_(access) {}

  // `worker_count` slots at `depth` for active job `job_id`, all or nothing (kQuotaExceeded),
  // held until released or the job ends. kInvalidRequest (no such job, depth),
  // kInvalidStateTransition (job terminal), kInsufficientScope (outside a worker token's
  // subtree).
  boost::asio::awaitable<Result<core::Allocation>> Allocate(Caller caller, std::string job_id,
                                                            int depth, int worker_count);
  // One allocation made through the API (kNotFound if not held; kInvalidStateTransition if
  // it is a worker's), or every one of a job of the caller's workspace (kNotFound if it has
  // no such job). Answers those released.
  boost::asio::awaitable<Result<std::vector<core::Allocation>>> Release(Caller caller,
                                                                        std::string allocation_id,
                                                                        std::string job_id);
  // The job ended: its API allocations are given back (in the background).
  void AfterJobEnded(const core::Job& job);
  // At start: an allocation made through the API for a job still active is held again.
  void Adopt(const core::Allocation& a);

 private:
  // Releases the API allocations `ids` (still held) in one commit; answers them released.
  boost::asio::awaitable<Result<std::vector<core::Allocation>>> ReleaseHeld(
      std::vector<std::string> ids);

  Context& ctx_;
  Scheduler& scheduler_;
  Access& access_;
  // Allocations made through the API and still held, by id.
  std::unordered_map<std::string, core::Allocation> held_;
};

}  // namespace overseer::service
