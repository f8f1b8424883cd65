// The one order in which every backend writes a ChangeSet (store.h), so that SQLite and
// PostgreSQL cannot drift apart: WriteChangeSet drives a backend's RowWriter (its statements on
// its own connection, inside a transaction the backend opened) through the ChangeSet's
// preconditions, rows and checks. A job or worker inserted and updated in the same ChangeSet (a
// job whose workers start at once) is inserted with the values its leading run of matching
// updates leaves, its transitions after its creation row: the rows of applying them one by
// one, with each index entry written once. Pure apart from the writer; any thread.
#pragma once

#include <cstdint>
#include <span>

#include "common/result.h"
#include "core/types.h"
#include "store/store.h"

namespace overseer::store {

// A backend's writes of single rows; the first error ends the ChangeSet (the backend rolls its
// transaction or savepoint back).
class RowWriter {
 public:
  virtual ~RowWriter() = default;
  virtual Status CheckPreconditions(std::span<const JobPrecondition> preconditions) = 0;
  // The job row (with its budget and usage), its closure rows and its dependency rows.
  virtual Status InsertJob(const core::Job& j) = 0;
  // The worker row with its final values, then `transitions` in order (creation first).
  virtual Status InsertWorker(const core::Worker& row,
                              std::span<const core::Transition> transitions) = 0;
  // Compare-and-set of the worker's status, then the transition TransitionOf(u).
  virtual Status UpdateWorker(const WorkerUpdate& u) = 0;
  virtual Status UpdateJob(const JobUpdate& u) = 0;
  virtual Status SetJobHalt(const JobHaltChange& c) = 0;
  virtual Status SetWorkspaceHalt(const WorkspaceHaltChange& c) = 0;
  virtual Status SetJobBudget(const JobBudgetChange& c) = 0;
  virtual Status SetJobUsage(const JobUsageChange& c) = 0;
  virtual Status InsertAllocation(const core::Allocation& a) = 0;
  virtual Status ReleaseAllocation(const AllocationRelease& r) = 0;
  virtual Status UpsertQuota(const core::Quota& q) = 0;
  virtual Status InsertEvent(const core::Event& e) = 0;
  virtual Status SetWorkerProcess(const WorkerProcess& p) = 0;
  // The slots held at the limit's workspace and depth, after the rows above.
  virtual Result<int64_t> HeldSlots(const SlotLimit& limit) = 0;
};

// Writes `changes` through `w`: preconditions, jobs, workers, updates, halts, budgets, usage,
// allocations, quotas, events, processes, then the slot limits.
Status WriteChangeSet(const ChangeSet& changes, RowWriter& w);

// `base` with the mutable columns of `update` (status, status_reason, times, result /
// process, attempt, metadata, paths, agent): the row an UPDATE of `base` leaves.
core::Job WithMutableColumns(const core::Job& base, const core::Job& update);
core::Worker WithMutableColumns(const core::Worker& base, const core::Worker& update);
// The state_transitions row of an update, with from/to/timestamp filled from the update's
// expected and new status and updated_at where the caller left them empty.
core::Transition TransitionOf(const WorkerUpdate& u);

}  // namespace overseer::store
