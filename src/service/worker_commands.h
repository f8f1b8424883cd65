// WorkerCommands: what a user asks of one worker — pause (SIGSTOP to its tree, recorded once
// the kernel says it stopped), resume (its slot first, SPEC §2), terminate. Each answers the
// worker as it now is; kNotFound, kInvalidStateTransition, kQuotaExceeded (resume), kHalted
// (resume inside a halted subtree). The moves themselves are the WorkerRunner's. Loop thread
// only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>

#include "service/context.h"

namespace overseer::service {

class Access;
class JobOperations;
class Scheduler;
class WorkerRunner;

class WorkerCommands {
 public:
  WorkerCommands(Context& ctx, WorkerRunner& runner, Scheduler& scheduler, JobOperations& jobs,
                 Access& access)
      : ctx_(ctx), runner_(runner), scheduler_(scheduler), job_ops_(jobs), access_(access) {}

  boost::asio::awaitable<Result<core::Worker>> Pause(Caller caller, std::string id);
  boost::asio::awaitable<Result<core::Worker>> Resume(Caller caller, std::string id);
  // wait=true: answers once the process tree is gone (TERMINATED). wait=false: checks the
  // transition is legal, starts it, and answers the worker as it is.
  boost::asio::awaitable<Result<core::Worker>> Terminate(Caller caller, std::string id,
                                                         std::chrono::milliseconds grace,
                                                         bool wait);

 private:
  // The live worker `id` of the caller's workspace under its lock, once `event` is legal for
  // it (the 404/409/503 of NotLiveError, or the 409 of its state, otherwise).
  struct Held {
    WorkerPtr worker;
    ScopedLock lock;  // destroyed first: the mutex is the worker's
  };
  boost::asio::awaitable<Result<Held>> HoldFor(const Caller& caller, const std::string& id,
                                               core::WorkerEvent event);

  Context& ctx_;
  WorkerRunner& runner_;
  Scheduler& scheduler_;
  JobOperations& job_ops_;
  Access& access_;
};

}  // namespace overseer::service
