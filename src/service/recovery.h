// Recovery: at start, before serving, brings memory and the store in line with what is
// left of a daemon that stopped (or was killed): ends leftover processes, marks every
// RUNNING/PAUSED worker FAILED or TERMINATED (SUPERVISOR_RESTART; retried if its policy
// allows), respawns RETRYING ones, holds the slots that are still held, queues never-started
// jobs (FIFO by id, after their dependencies) and brings every job in line with its workers.
// Every change goes through the same pipeline as a request's. Loop thread only.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "service/context.h"

namespace overseer::service {

class Access;
class Allocations;
class Dependencies;
class JobOperations;
class Scheduler;
class WorkerRunner;

class Recovery {
 public:
  Recovery(Context& ctx, WorkerRunner& runner, Scheduler& scheduler, Dependencies& deps,
           Allocations& allocations, JobOperations& jobs, Access& access)
      : ctx_(ctx),
        runner_(runner),
        scheduler_(scheduler),
        deps_(deps),
        allocations_(allocations),
        job_ops_(jobs),
        access_(access) {}

  boost::asio::awaitable<Status> Recover();

 private:
  // Loads the active jobs, every worker of them, and the active workers of ended jobs.
  boost::asio::awaitable<Status> Load();
  // Slots: a worker that may still run keeps its allocation; every other one is released.
  boost::asio::awaitable<Status> HoldSlots(std::vector<core::Allocation> held);
  // Jobs that never started: after their dependencies, into the FIFO (by job id).
  boost::asio::awaitable<void> Requeue(std::vector<JobPtr> jobs);

  Context& ctx_;
  WorkerRunner& runner_;
  Scheduler& scheduler_;
  Dependencies& deps_;
  Allocations& allocations_;
  JobOperations& job_ops_;
  Access& access_;
};

}  // namespace overseer::service
