#include "integration/invariant_checks.h"

#include <algorithm>
#include <boost/json.hpp>
#include <set>
#include <sstream>
#include <utility>

#include "integration/db_reader.h"

namespace overseer::it::invariant {
namespace {

namespace json = boost::json;

// ---- helpers ------------------------------------------------------------------------------

bool IsTerminalJob(const std::string& s) {
  return s == "COMPLETED" || s == "FAILED" || s == "CANCELED";
}

bool IsFinalWorker(const std::string& s) {
  return s == "COMPLETED" || s == "TERMINATED" || s == "FAILED";
}

// SPEC §2, worker: the only legal (from, to) pairs.
bool LegalWorkerTransition(const std::string& from, const std::string& to) {
  static const std::set<std::pair<std::string, std::string>> kTable = {
      {"IDLE", "RUNNING"},      {"RUNNING", "PAUSED"},      {"PAUSED", "RUNNING"},
      {"RUNNING", "COMPLETED"}, {"RUNNING", "FAILED"},      {"FAILED", "RETRYING"},
      {"RETRYING", "RUNNING"},  {"IDLE", "TERMINATED"},     {"RUNNING", "TERMINATED"},
      {"PAUSED", "TERMINATED"}, {"RETRYING", "TERMINATED"},
  };
  return kTable.count({from, to}) != 0;
}

std::string Ms(int64_t t) { return t == 0 ? std::string("null") : std::to_string(t); }

std::string DescribeJob(const JobRow& j) {
  std::ostringstream o;
  o << "    job " << j.id << " status=" << j.status << " reason=" << j.reason
    << " depth=" << j.depth << " parent=" << (j.parent.empty() ? "-" : j.parent)
    << " workers=" << j.worker_count << " max_attempts=" << j.max_attempts
    << " created=" << j.created_at << " started=" << Ms(j.started_at)
    << " completed=" << Ms(j.completed_at);
  if (!j.depends_on.empty()) {
    o << " depends_on=[";
    for (size_t i = 0; i < j.depends_on.size(); ++i) o << (i ? "," : "") << j.depends_on[i];
    o << "]";
  }
  o << "\n";
  return o.str();
}

std::string DescribeAllocation(const AllocationRow& a) {
  std::ostringstream o;
  o << "    allocation " << a.id << " job=" << a.job_id
    << " worker=" << (a.worker_id.empty() ? "(api)" : a.worker_id) << " depth=" << a.depth
    << " count=" << a.count << " [" << a.allocated_at << ", "
    << (a.released_at ? std::to_string(*a.released_at) : std::string("held")) << "]\n";
  return o.str();
}

std::string DescribeWorker(const Records& r, const std::string& worker_id) {
  std::ostringstream o;
  auto w = r.workers.find(worker_id);
  if (w == r.workers.end()) return "    worker " + worker_id + " (no row)\n";
  o << "    worker " << w->first << " job=" << w->second.job_id << " status=" << w->second.status
    << " reason=" << w->second.reason << " attempt=" << w->second.attempt << "\n";
  auto t = r.transitions.find(worker_id);
  if (t != r.transitions.end()) {
    for (const TransitionRow& tr : t->second) {
      o << "      " << tr.ts << "  " << (tr.from.empty() ? "\"\"" : tr.from) << " -> " << tr.to
        << "  " << tr.reason << "\n";
    }
  }
  for (const AllocationRow& a : r.allocations) {
    if (a.worker_id == worker_id) o << "  " << DescribeAllocation(a);
  }
  return o.str();
}

std::string DescribeJobWithWorkers(const Records& r, const JobRow& j) {
  std::string s = DescribeJob(j);
  for (const auto& [id, w] : r.workers) {
    if (w.job_id == j.id) s += DescribeWorker(r, id);
  }
  for (const AllocationRow& a : r.allocations) {
    if (a.job_id == j.id && a.worker_id.empty()) s += DescribeAllocation(a);
  }
  return s;
}

const JobRow* FindJob(const Records& r, const std::string& id) {
  auto it = r.jobs.find(id);
  return it == r.jobs.end() ? nullptr : &it->second;
}

// The first time one of `job`'s workers entered RUNNING (0: never).
int64_t FirstRun(const Records& r, const std::string& job_id) {
  int64_t first = 0;
  for (const auto& [id, w] : r.workers) {
    if (w.job_id != job_id) continue;
    auto t = r.transitions.find(id);
    if (t == r.transitions.end()) continue;
    for (const TransitionRow& tr : t->second) {
      if (tr.to == "RUNNING" && (first == 0 || tr.ts < first)) first = tr.ts;
    }
  }
  return first;
}

}  // namespace

// ---- loading ------------------------------------------------------------------------------

bool LoadRecords(const std::string& db_location, const std::string& workspace, Records* out,
                 std::string* error) {
  std::unique_ptr<DbReader> db = DbReader::Open(db_location);
  Records& r = *out;
  bool ok =
      db->Query("SELECT id, status, status_reason, COALESCE(parent_job_id, ''), " +
                    db->JsonText("depends_on") + ", depth, worker_count, retry_max_attempts, " +
                    db->Ms("created_at") + ", " + db->Ms("started_at") + ", " +
                    db->Ms("completed_at") + " FROM jobs WHERE workspace_id = $1",
                workspace, [&](const DbRow& row) {
                  JobRow j;
                  j.id = row.Text(0);
                  j.status = row.Text(1);
                  j.reason = row.Text(2);
                  j.parent = row.Text(3);
                  boost::system::error_code ec;
                  json::value deps = json::parse(row.Text(4), ec);
                  if (!ec && deps.is_array()) {
                    for (const json::value& d : deps.as_array()) {
                      if (d.is_string()) j.depends_on.emplace_back(d.as_string());
                    }
                  }
                  j.depth = static_cast<int>(row.Int(5));
                  j.worker_count = static_cast<int>(row.Int(6));
                  j.max_attempts = static_cast<int>(row.Int(7));
                  j.created_at = row.Int(8);
                  j.started_at = row.Int(9);
                  j.completed_at = row.Int(10);
                  r.jobs[j.id] = std::move(j);
                });
  ok = ok && db->Query(
                 "SELECT id, job_id, status, status_reason, attempt FROM workers "
                 "WHERE workspace_id = $1",
                 workspace, [&](const DbRow& row) {
                   WorkerRow w;
                   w.id = row.Text(0);
                   w.job_id = row.Text(1);
                   w.status = row.Text(2);
                   w.reason = row.Text(3);
                   w.attempt = static_cast<int>(row.Int(4));
                   r.workers[w.id] = std::move(w);
                 });
  ok = ok && db->Query("SELECT worker_id, id, from_state, to_state, reason, " + db->Ms("ts") +
                           " FROM state_transitions WHERE workspace_id = $1 ORDER BY worker_id, id",
                       workspace, [&](const DbRow& row) {
                         TransitionRow t;
                         t.seq = row.Int(1);
                         t.from = row.Text(2);
                         t.to = row.Text(3);
                         t.reason = row.Text(4);
                         t.ts = row.Int(5);
                         r.transitions[row.Text(0)].push_back(std::move(t));
                       });
  ok = ok && db->Query("SELECT id, job_id, COALESCE(worker_id, ''), depth, worker_count, " +
                           db->Ms("allocated_at") + ", " + db->Ms("released_at") +
                           " FROM resource_allocations WHERE workspace_id = $1 ORDER BY "
                           "allocated_at, id",
                       workspace, [&](const DbRow& row) {
                         AllocationRow a;
                         a.id = row.Text(0);
                         a.job_id = row.Text(1);
                         a.worker_id = row.Text(2);
                         a.depth = static_cast<int>(row.Int(3));
                         a.count = static_cast<int>(row.Int(4));
                         a.allocated_at = row.Int(5);
                         if (!row.Null(6)) a.released_at = row.Int(6);
                         r.allocations.push_back(std::move(a));
                       });
  if (!ok) *error = db->error();
  return ok;
}

int QuotaTimeline::Allowed(int depth, int64_t t) const {
  auto init = initial.find(depth);
  int v = init == initial.end() ? 0 : init->second;
  for (const QuotaChange& c : changes) {
    if (c.depth != depth) continue;
    if (c.reply_ms < t) {  // answered before t
      if (c.outcome == QuotaChange::Outcome::kApplied) v = c.value;
      if (c.outcome == QuotaChange::Outcome::kUnknown) v = std::max(v, c.value);
    } else if (c.send_ms <= t) {  // in flight at t: either value may be in force
      return std::max(v, c.value);
    } else {
      break;
    }
  }
  return v;
}

// ---- 2. quota -----------------------------------------------------------------------------

std::vector<Violation> CheckQuota(const Records& r, const QuotaTimeline& quotas) {
  std::vector<Violation> out;
  for (const AllocationRow& grant : r.allocations) {
    const int64_t t = grant.allocated_at;
    int held = 0;
    std::vector<const AllocationRow*> holders;
    for (const AllocationRow& b : r.allocations) {
      if (b.depth != grant.depth || b.allocated_at > t) continue;
      if (b.released_at && *b.released_at <= t) continue;  // released in the same ms: first
      held += b.count;
      holders.push_back(&b);
    }
    const int allowed = quotas.Allowed(grant.depth, t);
    if (held <= allowed) continue;
    Violation v;
    v.check = "quota";
    v.what = "depth " + std::to_string(grant.depth) + ": allocation " + grant.id + " granted at " +
             std::to_string(t) + " while " + std::to_string(held) +
             " slots were held there; the quota in force allowed " + std::to_string(allowed);
    for (const AllocationRow* h : holders) {
      v.records += DescribeAllocation(*h);
      v.ids.push_back(h->worker_id.empty() ? h->job_id : h->worker_id);
    }
    if (!grant.worker_id.empty()) v.records += DescribeWorker(r, grant.worker_id);
    out.push_back(std::move(v));
  }
  return out;
}

// ---- 3. coverage --------------------------------------------------------------------------

std::vector<Violation> CheckCoverage(const Records& r, int64_t end_ms) {
  std::vector<Violation> out;
  std::map<std::string, std::vector<const AllocationRow*>> by_worker;
  for (const AllocationRow& a : r.allocations) {
    if (!a.worker_id.empty()) by_worker[a.worker_id].push_back(&a);
  }
  for (const auto& [wid, history] : r.transitions) {
    for (size_t i = 0; i < history.size(); ++i) {
      const TransitionRow& tr = history[i];
      if (tr.to != "RUNNING" && tr.to != "RETRYING") continue;
      const int64_t start = tr.ts;
      const int64_t end = i + 1 < history.size() ? history[i + 1].ts : end_ms;
      // Walk the union of the worker's allocations from `start`.
      int64_t cur = start;
      bool covered = false;
      while (true) {
        int64_t reach = -1;
        for (const AllocationRow* a : by_worker[wid]) {
          const int64_t rel = a->released_at ? *a->released_at : INT64_MAX;
          if (a->allocated_at <= cur && rel >= cur) reach = std::max(reach, rel);
        }
        if (reach < 0) break;
        if (reach >= end) {
          covered = true;
          break;
        }
        if (reach == cur) break;
        cur = reach;
      }
      if (covered) continue;
      Violation v;
      v.check = "coverage";
      v.what = "worker " + wid + " was " + tr.to + " (" + tr.reason + ") from " +
               std::to_string(start) + " to " + std::to_string(end) +
               " without an allocation of its own at " + std::to_string(cur);
      v.records = DescribeWorker(r, wid);
      v.ids = {wid};
      out.push_back(std::move(v));
    }
  }
  return out;
}

// ---- 4. nothing starts after the end ------------------------------------------------------

std::vector<Violation> CheckNothingStartsAfterTheEnd(const Records& r) {
  std::vector<Violation> out;
  for (const auto& [wid, history] : r.transitions) {
    auto w = r.workers.find(wid);
    if (w == r.workers.end()) continue;
    const JobRow* job = FindJob(r, w->second.job_id);
    if (job == nullptr || job->completed_at == 0) continue;
    for (const TransitionRow& tr : history) {
      if (tr.to != "RUNNING" || tr.ts <= job->completed_at) continue;
      Violation v;
      v.check = "terminal";
      v.what = "worker " + wid + " entered RUNNING (" + tr.reason + ") at " +
               std::to_string(tr.ts) + ", " + std::to_string(tr.ts - job->completed_at) +
               " ms after its job " + job->id + " ended " + job->status + " (" + job->reason + ")";
      v.records = DescribeJobWithWorkers(r, *job);
      v.ids = {wid, job->id};
      out.push_back(std::move(v));
    }
  }
  for (const auto& [id, j] : r.jobs) {
    const JobRow* parent = j.parent.empty() ? nullptr : FindJob(r, j.parent);
    const bool late =
        parent != nullptr && parent->completed_at != 0 && j.created_at > parent->completed_at;
    if (!late && j.reason != "PARENT_ENDED") continue;
    Violation v;
    v.check = "terminal";
    if (late) {
      v.what = "job " + id + " was created at " + std::to_string(j.created_at) + ", " +
               std::to_string(j.created_at - parent->completed_at) + " ms after its parent " +
               parent->id + " ended " + parent->status + " (the job: " + j.status + " " + j.reason +
               ")";
    } else {
      v.what = "job " + id + " was accepted, then canceled PARENT_ENDED (its parent " + j.parent +
               " ended while it was being created; the README promises 409)";
    }
    if (parent != nullptr) v.records += DescribeJob(*parent);
    v.records += DescribeJobWithWorkers(r, j);
    v.ids = {id, j.parent};
    out.push_back(std::move(v));
  }
  return out;
}

// ---- 5. histories -------------------------------------------------------------------------

std::vector<Violation> CheckHistories(const Records& r) {
  std::vector<Violation> out;
  for (const auto& [wid, w] : r.workers) {
    auto it = r.transitions.find(wid);
    static const std::vector<TransitionRow> kNone;
    const std::vector<TransitionRow>& h = it == r.transitions.end() ? kNone : it->second;
    const JobRow* job = FindJob(r, w.job_id);
    std::vector<std::string> problems;
    if (h.empty() || h[0].from != "" || h[0].to != "IDLE") {
      problems.push_back("the first row is not \"\" -> IDLE");
    }
    int attempts = 0;
    for (size_t i = 0; i < h.size(); ++i) {
      const TransitionRow& tr = h[i];
      if (tr.to == "RUNNING" && (tr.from == "IDLE" || tr.from == "RETRYING")) ++attempts;
      if (tr.reason == "STOPPED_EXTERNALLY" || tr.reason == "CONTINUED_EXTERNALLY") {
        problems.push_back(tr.from + " -> " + tr.to + " " + tr.reason + " at " +
                           std::to_string(tr.ts) + " though nothing outside signals workers");
      }
      if (i == 0) continue;
      const TransitionRow& prev = h[i - 1];
      if (tr.from != prev.to) {
        problems.push_back("row at " + std::to_string(tr.ts) + " starts from " + tr.from +
                           " but the previous row ended in " + prev.to);
      }
      if (!LegalWorkerTransition(tr.from, tr.to)) {
        problems.push_back("illegal " + tr.from + " -> " + tr.to + " (" + tr.reason + ") at " +
                           std::to_string(tr.ts));
      }
      if (tr.ts < prev.ts) {
        problems.push_back("time goes back at row " + std::to_string(tr.seq));
      }
    }
    if (!h.empty() && h.back().to != w.status) {
      problems.push_back("status column " + w.status + " but the last row says " + h.back().to);
    }
    if (job != nullptr && attempts > job->max_attempts) {
      problems.push_back(std::to_string(attempts) + " attempts started, max_attempts is " +
                         std::to_string(job->max_attempts));
    }
    for (const std::string& p : problems) {
      Violation v;
      v.check = "history";
      v.what = "worker " + wid + ": " + p;
      v.records = DescribeWorker(r, wid);
      v.ids = {wid, w.job_id};
      out.push_back(std::move(v));
    }
  }
  return out;
}

// ---- 6. jobs ------------------------------------------------------------------------------
// - every job is terminal (COMPLETED, FAILED, CANCELED) with a completed_at, and has
//   worker_count workers, each in a final state (COMPLETED, TERMINATED, FAILED);
// - COMPLETED: every worker COMPLETED, every child terminal no later than the job, every
//   dependency COMPLETED;
// - FAILED: some worker FAILED or TERMINATED;
// - a dependency that ended FAILED or CANCELED while the job was active: the job is CANCELED
//   (and, as below, none of its workers ever ran);
// - a job that ran: each dependency had COMPLETED by its first start.

std::vector<Violation> CheckJobs(const Records& r) {
  std::vector<Violation> out;
  std::map<std::string, std::vector<const WorkerRow*>> workers_of;
  for (const auto& [id, w] : r.workers) workers_of[w.job_id].push_back(&w);
  std::map<std::string, std::vector<const JobRow*>> children_of;
  for (const auto& [id, j] : r.jobs) {
    if (!j.parent.empty()) children_of[j.parent].push_back(&j);
  }
  for (const auto& [id, j] : r.jobs) {
    std::vector<std::string> problems;
    std::vector<std::string> extra_ids;
    std::string extra_records;
    const auto& ws = workers_of[id];
    if (!IsTerminalJob(j.status) || j.completed_at == 0) {
      problems.push_back("still " + j.status + " after quiescence (completed_at " +
                         Ms(j.completed_at) + ")");
    }
    if (static_cast<int>(ws.size()) != j.worker_count) {
      problems.push_back("has " + std::to_string(ws.size()) + " workers, worker_count is " +
                         std::to_string(j.worker_count));
    }
    int completed = 0;
    int failed_or_terminated = 0;
    for (const WorkerRow* w : ws) {
      if (!IsFinalWorker(w->status)) {
        problems.push_back("worker " + w->id + " still " + w->status + " after quiescence");
      }
      if (w->status == "COMPLETED") ++completed;
      if (w->status == "FAILED" || w->status == "TERMINATED") ++failed_or_terminated;
    }
    if (j.status == "COMPLETED") {
      if (completed != static_cast<int>(ws.size())) {
        problems.push_back("COMPLETED but not every worker is COMPLETED");
      }
      for (const JobRow* c : children_of[id]) {
        if (!IsTerminalJob(c->status) || c->completed_at == 0 || c->completed_at > j.completed_at) {
          problems.push_back("COMPLETED at " + std::to_string(j.completed_at) + " but child " +
                             c->id + " was " + c->status + " until " + Ms(c->completed_at));
          extra_records += DescribeJob(*c);
          extra_ids.push_back(c->id);
        }
      }
    }
    if (j.status == "FAILED" && failed_or_terminated == 0) {
      problems.push_back("FAILED (" + j.reason + ") with no worker FAILED or TERMINATED");
    }
    const int64_t first_run = FirstRun(r, id);
    for (const std::string& dep_id : j.depends_on) {
      const JobRow* dep = FindJob(r, dep_id);
      if (dep == nullptr) continue;
      const bool dep_failed = dep->status == "FAILED" || dep->status == "CANCELED";
      // Only if the job was still active when the dependency ended (a job ended by its own
      // terminate before that is not the dependency's doing).
      if (dep_failed && j.status != "CANCELED" &&
          (j.completed_at == 0 || j.completed_at > dep->completed_at)) {
        problems.push_back("dependency " + dep_id + " ended " + dep->status + " but the job is " +
                           j.status + " (" + j.reason + "), not CANCELED DEPENDENCY_FAILED");
      }
      if (j.status == "COMPLETED" && dep->status != "COMPLETED") {
        problems.push_back("COMPLETED though dependency " + dep_id + " is " + dep->status);
      }
      if (first_run != 0 &&
          (dep->status != "COMPLETED" || dep->completed_at == 0 || dep->completed_at > first_run)) {
        problems.push_back("a worker ran at " + std::to_string(first_run) + " but dependency " +
                           dep_id + " was " + dep->status + " (completed " + Ms(dep->completed_at) +
                           ")");
      }
      if (dep_failed || first_run != 0) {
        extra_records += DescribeJob(*dep);
        extra_ids.push_back(dep_id);
      }
    }
    if (problems.empty()) continue;
    for (const std::string& p : problems) {
      Violation v;
      v.check = "jobs";
      v.what = "job " + id + ": " + p;
      v.records = DescribeJobWithWorkers(r, j) + extra_records;
      v.ids = extra_ids;
      v.ids.push_back(id);
      out.push_back(std::move(v));
    }
  }
  return out;
}

// ---- 8. slots (record side) ---------------------------------------------------------------

std::vector<Violation> CheckNoHeldAllocation(const Records& r) {
  std::vector<Violation> out;
  for (const AllocationRow& a : r.allocations) {
    if (a.released_at) continue;
    Violation v;
    v.check = "slots";
    v.what =
        "allocation " + a.id + " (job " + a.job_id + ") is still held after the daemon stopped";
    v.records = DescribeAllocation(a);
    if (!a.worker_id.empty()) v.records += DescribeWorker(r, a.worker_id);
    v.ids = {a.id, a.job_id};
    if (!a.worker_id.empty()) v.ids.push_back(a.worker_id);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace overseer::it::invariant
