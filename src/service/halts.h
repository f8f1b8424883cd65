// Halts: the kill switch (SPEC §11). A halt thrown on a job covers its whole subtree: freeze
// pauses every RUNNING worker of it (reason HALTED, all at once), terminates its RETRYING ones
// and cancels its PENDING jobs; terminate cancels the subtree like a cancel cascade (reason
// HALTED). Until the unhalt, no new job is accepted in the subtree, no worker of it resumes or
// respawns, and the tokens bound to its jobs may only read. The unhalt resumes exactly the
// workers the freeze paused. A workspace halt (POST /api/halt) does the same to every root job
// of the workspace and refuses new root jobs until POST /api/unhalt.
//
// Where the state lives: a job's halt is on its record (core::Job::halted, committed with a
// job.halted / job.unhalted event in the same transaction); the workspace halts are this
// service's (loaded at start). What a halt does to each job and worker is decided by
// core/halt.h. halts.cc: the front doors and refusals; halt_apply.cc: carrying a halt out.
// Loop thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/halt.h"
#include "service/context.h"

namespace overseer::service {

class Access;
class JobOperations;
class Scheduler;
class WorkerRunner;

// The nearest job at or above `job` (through the live parent links) that is halted, or
// nullptr. An active job's ancestors are all active (live), so memory is enough.
const LiveJob* HaltedAt(const LiveJob& job);
// 409 HALTED for a request refused by the halt on `halted` (details: job_id, mode, halted_by,
// halt_reason).
Error HaltedError(const core::Job& halted, const std::string& message);

// A workspace's halt, as GET/POST /api/halt answer it.
struct WorkspaceHaltView {
  std::optional<core::Halt> halt;    // nullopt: not halted
  std::vector<std::string> job_ids;  // the root jobs the call halted (or unhalted)
};

class Halts {
 public:
  Halts(Context& ctx, WorkerRunner& runner, Scheduler& scheduler, JobOperations& jobs,
        Access& access)
      : ctx_(ctx), runner_(runner), scheduler_(scheduler), job_ops_(jobs), access_(access) {}

  // Halts job `id` and its subtree (see above) on behalf of `by` (the token's subject), and
  // answers the job once every process of the subtree is stopped (freeze) or gone
  // (terminate; SIGTERM, SIGKILL after `grace`). kNotFound; kInsufficientScope (a worker
  // token outside its subtree); kInvalidStateTransition (the job is terminal); kHalted (the
  // job or an ancestor is halted already — except a freeze of this very job escalated to
  // terminate, which is applied); kUnavailable (shutting down, or the store).
  boost::asio::awaitable<Result<core::Job>> HaltJob(Caller caller, std::string by, std::string id,
                                                    core::HaltMode mode, std::string reason,
                                                    std::chrono::milliseconds grace);
  // Lifts the halt of job `id` and resumes the workers its freeze paused (slots permitting: one
  // whose slot is taken stays PAUSED, reason HALTED, for a manual resume). kNotFound;
  // kInvalidStateTransition (the job is not halted); kHalted (an ancestor is halted, or the
  // halt is the workspace's: POST /api/unhalt lifts it).
  boost::asio::awaitable<Result<core::Job>> UnhaltJob(Caller caller, std::string by,
                                                      std::string id);
  // The workspace halt: recorded, then every active root job halted (workspace_wide).
  // kHalted if the workspace is halted already (a freeze may be escalated to terminate).
  boost::asio::awaitable<Result<WorkspaceHaltView>> HaltWorkspace(Caller caller, std::string by,
                                                                  core::HaltMode mode,
                                                                  std::string reason,
                                                                  std::chrono::milliseconds grace);
  // Lifts the workspace halt and every job halt it threw. kInvalidStateTransition if the
  // workspace is not halted.
  boost::asio::awaitable<Result<WorkspaceHaltView>> UnhaltWorkspace(Caller caller, std::string by);
  // The caller's workspace halt (job_ids empty).
  WorkspaceHaltView GetWorkspaceHalt(const Caller& caller) const;

  // kHalted when `caller` is a worker token whose job lies in a halted subtree: such tokens
  // may only read (so an agent cannot lift its own halt). OkStatus otherwise.
  Status CheckCallerMayWrite(const Caller& caller) const;
  // kHalted when a new job under `parent_id` ("" = a root job) would be inside a halted
  // subtree or workspace. A parent that does not exist is not this check's to refuse.
  boost::asio::awaitable<Status> CheckNewJob(Caller caller, std::string parent_id);
  // kHalted when workspace `ws` is halted; at once (no suspension), so that a root job can be
  // checked in the same step that makes it live: a workspace halt recorded before that step
  // refuses it, one recorded after finds it among the root jobs it walks.
  Status CheckWorkspaceOpen(const std::string& ws) const;

  // At start, before Recovery: the workspace halts in force.
  boost::asio::awaitable<Status> Load();

  // Budgets (service/budgets.h): `halt` (budget set) thrown on `job` because its budget's
  // `limit` is spent (event budget.exhausted), carried out like any halt with reason
  // BUDGET_EXHAUSTED. Nothing if the job has ended or a halt covers it already.
  boost::asio::awaitable<void> HaltForBudget(JobPtr job, core::Halt halt, std::string limit,
                                             std::chrono::milliseconds grace);
  // Lifts `job`'s budget halt (its budget was raised): the workers it paused resume.
  boost::asio::awaitable<Status> LiftBudgetHalt(JobPtr job, std::string by);

 private:
  // Commits `halt` (nullopt: lifts it) on `job` with its event, under the job's mu; memory
  // follows.
  boost::asio::awaitable<Status> RecordJobHalt(JobPtr job, std::optional<core::Halt> halt,
                                               std::string by,
                                               std::optional<core::Event> event = std::nullopt);
  // Carries out `mode` on the subtree of `job` (repeated until a pass finds nothing to do, so
  // a job started meanwhile is caught too).
  boost::asio::awaitable<void> Apply(JobPtr job, core::HaltMode mode,
                                     std::chrono::milliseconds grace,
                                     std::string reason = std::string(core::kHaltReason));
  // Resumes the workers of the subtree of `job` that its freeze paused (not those of a halted
  // job below it).
  boost::asio::awaitable<void> Thaw(JobPtr job);
  // The workers of one job at once, as a pause / resume request would move each (SIGSTOP and
  // the kernel's word that it stopped; slot first, then SIGCONT), in one commit: a job's
  // workers are not committed one after another under its mu.
  boost::asio::awaitable<void> PauseJobWorkers(JobPtr job, std::vector<WorkerPtr> workers,
                                               std::string reason);
  boost::asio::awaitable<void> ResumeJobWorkers(JobPtr job, std::vector<WorkerPtr> workers);
  // The jobs of the live subtree of `root` (the root first), each read under its mu so that a
  // child being linked is not missed; with `stop_at_halted`, the subtrees of other halted
  // jobs below are left out.
  boost::asio::awaitable<std::vector<JobPtr>> Subtree(JobPtr root, bool stop_at_halted);
  // Halt / unhalt of one job, shared by the job and the workspace routes.
  boost::asio::awaitable<Result<core::Job>> HaltOne(JobPtr job, core::Halt halt,
                                                    std::chrono::milliseconds grace);
  boost::asio::awaitable<Status> UnhaltOne(JobPtr job, std::string by);
  // Runs every item of `work` at once (tracked tasks) and resumes when all are done.
  boost::asio::awaitable<void> RunAll(std::vector<boost::asio::awaitable<void>> work);

  // A halt pass is repeated while it still finds something to do (a job started meanwhile),
  // at most this many times.
  static constexpr int kMaxHaltPasses = 3;

  Context& ctx_;
  WorkerRunner& runner_;
  Scheduler& scheduler_;
  JobOperations& job_ops_;
  Access& access_;
  std::unordered_map<std::string, core::Halt> workspace_halts_;  // by workspace id
};

}  // namespace overseer::service
