// Store: durable state behind one interface (SQLite now, PostgreSQL later). Synchronous:
// never called on the event loop; the service runs it on the BlockingPool (RunBlocking).
//
// Concurrency rule, for every backend: every method is thread-safe and may be called
// concurrently from several threads (a pool of them, one call per thread at a time). Each
// call is atomic: a reader sees a ChangeSet's rows all or not at all, never half of one.
// How a backend gets there is its own: SqliteStore keeps SQLite's single writer inside (one
// connection behind a mutex: calls run one at a time; the service gives it one pool
// thread); a pooled PostgreSQL store takes a connection per call and lets the database
// serialize conflicting writes. Apply is one transaction; ApplyAll is the group commit: one
// transaction, a savepoint per ChangeSet, so each ChangeSet commits or fails on its own and
// sees the writes of the ones before it. Status compare-and-sets and preconditions are
// checked inside the writing transaction, so two callers racing on one row cannot both
// win: the loser gets kConflict (as for a transaction the database aborts: serialization
// failure, deadlock). The store never retries a conflict; its caller re-reads and re-plans.
//
// Every method returns errors as values and never throws:
//   kNotFound       the id does not exist in that workspace (another workspace's id too)
//   kConflict       a compare-and-set on status or a precondition failed (details:
//                   current_state; requested_state or job_id), or the database aborted
//                   the transaction; retryable: re-read, then plan again
//   kUnavailable    the database cannot be reached or is locked beyond the busy timeout
//   kInternal       anything else (constraint violation, corrupt file); message has no SQL
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "core/types.h"

namespace overseer::store {

// Keyset pagination: items with id > after_id, ascending by id, at most `limit`.
struct WorkerQuery {
  std::optional<core::WorkerState> status;
  std::string job_id;    // "" = any
  std::string after_id;  // "" = from the start
  int limit = 100;
};

struct JobQuery {
  std::optional<core::JobState> status;
  std::optional<std::string> parent_job_id;  // "" = roots only; nullopt = any
  std::optional<int> depth;
  std::string after_id;
  int limit = 100;
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_after_id;  // "" when there are no more items
};

// One status change of a worker: the full new row plus the transition row. Applied only if
// the stored status still equals `expected_status` (else kConflict).
struct WorkerUpdate {
  core::Worker worker;  // new values of every mutable column, keyed by worker.id
  core::WorkerState expected_status;
  core::Transition transition;  // written to state_transitions in the same transaction
};

// A change of a job's mutable columns (status, status_reason, started_at, completed_at,
// result_json, updated_at). Applied only if the stored status equals `expected_status`.
struct JobUpdate {
  core::Job job;
  core::JobState expected_status;
};

// Sets released_at of a held allocation (kNotFound if it is not held in that workspace).
struct AllocationRelease {
  std::string id;
  std::string workspace_id;
  TimeMs released_at = 0;
};

// The process of a started attempt, recorded apart from its RUNNING row: a job's start is
// written while its processes spawn, and their pids follow in the next commit. Sets pid, pgid
// and cgroup_path only while the stored row is still at `attempt` (else nothing: a later
// attempt's row is newer); no transition row, no error for a worker that is not there.
struct WorkerProcess {
  std::string worker_id;
  std::string workspace_id;
  int attempt = 0;
  int64_t pid = 0;
  int64_t pgid = 0;
  std::string cgroup_path;
};

// A read the plan depends on, checked again where the plan is written (a sub-job's parent
// still active when the sub-job is inserted): the job `job_id` of `workspace_id` must be in
// one of `allowed` statuses. Checked against the stored rows inside the ChangeSet's own
// transaction, before any of its writes, and held until it commits (a backend with
// concurrent writers locks the row, e.g. SELECT ... FOR SHARE).
struct JobPrecondition {
  std::string workspace_id;
  std::string job_id;
  std::vector<core::JobState> allowed;
};

// The job must still be PENDING or RUNNING.
inline JobPrecondition JobStillActive(std::string workspace_id, std::string job_id) {
  return JobPrecondition{std::move(workspace_id),
                         std::move(job_id),
                         {core::JobState::kPending, core::JobState::kRunning}};
}

// A job's halt set (`halt`) or lifted (nullopt): only the halt columns of the job row, no
// status compare-and-set (a halt is not a state of SPEC §2). kNotFound if the job is not in
// that workspace.
struct JobHaltChange {
  std::string workspace_id;
  std::string job_id;
  std::optional<core::Halt> halt;
};

// A job's budget set (PATCH /api/jobs/{id}), or removed (nullopt): only its budget columns.
// kNotFound if the job is not in that workspace.
struct JobBudgetChange {
  std::string workspace_id;
  std::string job_id;
  std::optional<core::Budget> budget;
};

// A job's subtree usage as of now (only its usage columns; the newest write wins). A job that
// is not there is skipped: usage is reported for jobs that exist.
struct JobUsageChange {
  std::string workspace_id;
  std::string job_id;
  core::JobUsage usage;
};

// A workspace-wide halt (POST /api/halt; halt.workspace_wide) set, or lifted (nullopt).
struct WorkspaceHaltChange {
  std::string workspace_id;
  std::optional<core::Halt> halt;
};

// A workspace halt as stored.
struct WorkspaceHalt {
  std::string workspace_id;
  core::Halt halt;
};

// A quota the ChangeSet's allocations must fit (SPEC §1), decided inside its transaction so that
// writers on several connections (several daemons) cannot together exceed it: once the
// ChangeSet's rows are written, the worker slots held at (workspace_id, depth) — every allocation
// not released, whoever wrote it — must be at most max_workers, else the whole ChangeSet fails
// with kQuotaExceeded {depth, quota, used, requested} (requested: what this ChangeSet adds
// there). A backend with concurrent writers serializes these checks per workspace and depth.
struct SlotLimit {
  std::string workspace_id;
  int depth = 0;
  int max_workers = 0;
};

// Everything in one ChangeSet commits in one transaction, or nothing does. Its preconditions
// are checked first: a job that is not in an allowed status fails the whole ChangeSet with
// kConflict {job_id, current_state}; one that is not there (in that workspace) with
// kNotFound {job_id}; an empty `allowed` is kInvalidRequest.
struct ChangeSet {
  std::vector<core::Job> new_jobs;        // inserted
  std::vector<core::Worker> new_workers;  // inserted, with a ""->status transition row each
  std::vector<WorkerUpdate> worker_updates;
  std::vector<JobUpdate> job_updates;
  std::vector<core::Event> events;  // appended; seq assigned by the store
  std::vector<core::Allocation> new_allocations;
  std::vector<AllocationRelease> released_allocations;
  std::vector<core::Quota> quotas = {};              // inserted or replaced (workspace, depth)
  std::vector<WorkerProcess> worker_processes = {};  // after the rows above
  std::vector<JobPrecondition> require_jobs = {};    // checked before anything is written
  std::vector<JobHaltChange> job_halts = {};         // after the job rows above
  std::vector<WorkspaceHaltChange> workspace_halts = {};
  std::vector<JobBudgetChange> job_budgets = {};  // after the job rows above
  std::vector<JobUsageChange> job_usages = {};    // after the job rows above
  std::vector<SlotLimit> slot_limits = {};        // checked after every write above
};

enum class IdempotencyOutcome {
  kStarted,     // new key: the caller proceeds and later calls Finish or Drop
  kReplay,      // same key, same request, finished: replay status + body
  kInProgress,  // same key, first request still running
  kMismatch,    // same key, different request
};

struct IdempotencyRecord {
  IdempotencyOutcome outcome = IdempotencyOutcome::kStarted;
  int status = 0;
  std::string body;
};

struct MigrationInfo {
  int version = 0;
  std::string name;
  bool applied = false;
  TimeMs applied_at = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Schema. Up applies every pending migration in order; Down rolls back the newest
  // `steps` applied ones. Each migration runs in its own transaction.
  virtual Status MigrateUp() = 0;
  virtual Status MigrateDown(int steps) = 0;
  virtual Result<std::vector<MigrationInfo>> Migrations() = 0;

  // kUnavailable if the database cannot answer a trivial query.
  virtual Status Ping() = 0;

  virtual Status Apply(const ChangeSet& changes) = 0;
  // Group commit: applies each ChangeSet as Apply would, all inside one database transaction.
  // Result i is what Apply(*changes[i]) would have answered: a failed ChangeSet (say a status
  // CAS) leaves no trace and does not affect the others. If the transaction itself cannot
  // begin or commit, every result is that error and nothing is written.
  virtual std::vector<Status> ApplyAll(std::span<const ChangeSet* const> changes) = 0;

  virtual Result<core::Job> GetJob(const std::string& workspace_id, const std::string& id) = 0;
  virtual Result<Page<core::Job>> ListJobs(const std::string& workspace_id,
                                           const JobQuery& query) = 0;
  // The job `root_id` and every descendant: the root first, then by depth and id, at most
  // `max_jobs` rows (the deepest are cut first). kNotFound if the root is not in the workspace.
  virtual Result<std::vector<core::Job>> ListJobSubtree(const std::string& workspace_id,
                                                        const std::string& root_id,
                                                        int max_jobs) = 0;
  // True if `job_id` is `ancestor_id` or one of its descendants, both of the workspace (SPEC
  // §8's job_hierarchy: one indexed lookup, whatever the depth); false for an id that is not
  // there.
  virtual Result<bool> JobInSubtree(const std::string& workspace_id, const std::string& ancestor_id,
                                    const std::string& job_id) = 0;
  // The jobs below `ancestor_id` (not the job itself) that have not ended (SUBMITTED, PENDING,
  // RUNNING), by depth and id, at most `max_jobs`: what a cancel cascade must reach, from the
  // closure table, whichever process wrote the rows. None for an id that is not in the
  // workspace.
  virtual Result<std::vector<core::Job>> ListActiveDescendants(const std::string& workspace_id,
                                                               const std::string& ancestor_id,
                                                               int max_jobs) = 0;
  // The jobs of the workspace that depend on `job_id` (SPEC §8's job_dependencies) and have not
  // ended, by id, at most `max_jobs`: who a dependency's end concerns, whoever wrote them.
  virtual Result<std::vector<core::Job>> ListActiveDependents(const std::string& workspace_id,
                                                              const std::string& job_id,
                                                              int max_jobs) = 0;
  virtual Result<core::Worker> GetWorker(const std::string& workspace_id,
                                         const std::string& id) = 0;
  virtual Result<Page<core::Worker>> ListWorkers(const std::string& workspace_id,
                                                 const WorkerQuery& query) = 0;
  // The state transitions of a worker of the workspace, oldest first. A worker that is not in
  // the workspace (another workspace's, or none) has none: an empty list, not kNotFound.
  virtual Result<std::vector<core::Transition>> ListTransitions(const std::string& workspace_id,
                                                                const std::string& worker_id) = 0;
  // All workspaces; for recovery at start.
  virtual Result<std::vector<core::Worker>> ListWorkersInStates(
      const std::vector<core::WorkerState>& states) = 0;
  virtual Result<std::vector<core::Job>> ListJobsInStates(
      const std::vector<core::JobState>& states) = 0;
  // The event log of one workspace (SPEC §10), for a stream's replay: the events with
  // seq > after_seq, ascending by seq, at most `limit` (clamped to 1..1000); fewer only when
  // there are no more. Rows of a type this binary does not know (written by a newer version)
  // are skipped.
  virtual Result<std::vector<core::Event>> ListEvents(const std::string& workspace_id,
                                                      int64_t after_seq, int limit) = 0;
  // The smallest seq still stored for the workspace, 0 if it has none: a stream asked to
  // resume from an id below it may have lost events (410 EVENTS_EXPIRED, details.oldest_id).
  virtual Result<int64_t> OldestEventSeq(const std::string& workspace_id) = 0;
  // Counts of workers per status in one workspace.
  virtual Result<std::vector<std::pair<core::WorkerState, int64_t>>> CountWorkersByStatus(
      const std::string& workspace_id) = 0;

  // Resources. Quota rows of every workspace (few: one per workspace and depth changed).
  virtual Result<std::vector<core::Quota>> ListQuotas() = 0;
  // Inserts or replaces the rows of `quotas` (one transaction; ChangeSet::quotas does the same
  // inside a commit, with its events).
  virtual Status SetQuotas(const std::vector<core::Quota>& quotas) = 0;
  // The workspace halts in force, of every workspace (at start; few).
  virtual Result<std::vector<WorkspaceHalt>> ListWorkspaceHalts() = 0;
  // Allocations still held, of every workspace (at start).
  virtual Result<std::vector<core::Allocation>> ListHeldAllocations() = 0;
  // The allocations of one job, held and released, oldest first (at most 1000).
  virtual Result<std::vector<core::Allocation>> ListJobAllocations(const std::string& workspace_id,
                                                                   const std::string& job_id) = 0;

  // Idempotency (SPEC §6). `fingerprint` identifies the request (method, path, body hash).
  virtual Result<IdempotencyRecord> BeginIdempotent(const std::string& workspace_id,
                                                    const std::string& key,
                                                    const std::string& fingerprint, TimeMs now) = 0;
  virtual Status FinishIdempotent(const std::string& workspace_id, const std::string& key,
                                  int status, const std::string& body, TimeMs now) = 0;
  // Forgets an in-flight key (the request failed validation or crashed).
  virtual Status DropIdempotent(const std::string& workspace_id, const std::string& key) = 0;
  // Deletes finished keys created before `cutoff` and every in-flight key (at start).
  virtual Status PurgeIdempotent(TimeMs cutoff, bool include_in_flight) = 0;
};

}  // namespace overseer::store
