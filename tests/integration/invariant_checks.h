// The record side of the randomized invariant test (invariant_test.cc): the daemon's database
// read back after the run (SQLite or PostgreSQL through db_reader.h, the daemon stopped), and
// the invariants checked against it. Pure functions over the rows; no daemon, no clock.
//
// Timestamps are the database's milliseconds. Tie rule, everywhere: two events in the same
// millisecond are taken in the order that favours the daemon (a release and a grant in the
// same ms: the release first; a job's end and a worker's start in the same ms: the start
// first). A violation therefore always has at least one millisecond of evidence.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace overseer::it::invariant {

struct JobRow {
  std::string id;
  std::string status;
  std::string reason;
  std::string parent;  // "" for a root job
  std::vector<std::string> depends_on;
  int depth = 0;
  int worker_count = 0;
  int max_attempts = 1;
  int64_t created_at = 0;
  int64_t started_at = 0;    // 0: null
  int64_t completed_at = 0;  // 0: null
};

struct WorkerRow {
  std::string id;
  std::string job_id;
  std::string status;
  std::string reason;
  int attempt = 0;
};

struct TransitionRow {
  int64_t seq = 0;
  std::string from;
  std::string to;
  std::string reason;
  int64_t ts = 0;
};

struct AllocationRow {
  std::string id;
  std::string job_id;
  std::string worker_id;  // "" for one made through POST /api/resources/allocate
  int depth = 0;
  int count = 0;
  int64_t allocated_at = 0;
  std::optional<int64_t> released_at;
};

// Everything of one workspace.
struct Records {
  std::map<std::string, JobRow> jobs;
  std::map<std::string, WorkerRow> workers;
  std::map<std::string, std::vector<TransitionRow>> transitions;  // by worker, oldest first
  std::vector<AllocationRow> allocations;
};

// Reads `db_location` (a SQLite file, read-only, or a postgresql:// URL: Daemon::db()). False
// with `error` set if the database or a table cannot be read.
bool LoadRecords(const std::string& db_location, const std::string& workspace, Records* out,
                 std::string* error);

// The quotas the test set: its initial values and every change with the test's clock at its
// send and at its reply. Changes are sent one at a time (the test serializes them).
struct QuotaChange {
  int depth = 0;
  int value = 0;
  int64_t send_ms = 0;
  int64_t reply_ms = 0;
  // 2xx: applied. 4xx: certainly not applied. No answer or 5xx: unknown, so from its reply on
  // the larger of the old and the new value counts.
  enum class Outcome { kApplied, kRejected, kUnknown };
  Outcome outcome = Outcome::kApplied;
};
struct QuotaTimeline {
  std::map<int, int> initial;
  std::vector<QuotaChange> changes;  // in send order
  // The largest quota that may have been in force at `t`: during a change's window
  // [send, reply] (ends included) both the old and the new value count.
  int Allowed(int depth, int64_t t) const;
};

struct Violation {
  std::string check;             // "quota", "coverage", ...
  std::string what;              // one line
  std::string records;           // the rows behind it, several lines
  std::vector<std::string> ids;  // job / worker / allocation ids to find the ops with
};

// 2. At every grant (allocated_at), the slots held at its depth (worker_count of every
//    allocation with allocated_at <= t < released_at) are at most the quota in force.
std::vector<Violation> CheckQuota(const Records& r, const QuotaTimeline& quotas);
// 3. Every RUNNING or RETRYING interval of a worker lies inside its own allocations (their
//    union; an allocation covers [allocated_at, released_at], ends included). `end_ms` closes
//    an interval still open.
std::vector<Violation> CheckCoverage(const Records& r, int64_t end_ms);
// 4. No worker enters RUNNING after its job's completed_at (strictly later), no job is created
//    after its parent's completed_at, and none is canceled PARENT_ENDED (a sub-job accepted
//    for a parent that had ended: the README promises 409).
std::vector<Violation> CheckNothingStartsAfterTheEnd(const Records& r);
// 5. Each worker's history: the first row "" -> IDLE, then each from = previous to, every
//    (from, to) in the SPEC §2 table, timestamps non-decreasing, the status column equal to
//    the last to, at most max_attempts attempts, and no STOPPED/CONTINUED_EXTERNALLY (the
//    test never signals a worker: such a row is the daemon mistaking its own signal).
std::vector<Violation> CheckHistories(const Records& r);
// 6. After quiescence every job is terminal and agrees with its workers, children and
//    dependencies (see the .cc for the list).
std::vector<Violation> CheckJobs(const Records& r);
// 8 (record side). No allocation is left with released_at null.
std::vector<Violation> CheckNoHeldAllocation(const Records& r);

}  // namespace overseer::it::invariant
